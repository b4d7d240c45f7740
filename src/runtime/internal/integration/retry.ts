/**
 * A retry schedule read as a function of the attempt: the delay before delivery `attempt + 1`
 * after `attempt` failed deliveries, or none when the schedule gives up. Broker consumers count
 * attempts with the broker's delivery count, so the schedule is replayed from its start rather
 * than kept in memory (a restart keeps the count).
 */
import { Clock, Duration, Effect, Option, type Schedule, ScheduleDecision, ScheduleIntervals } from "effect"

export const delayAfter = (
  schedule: Schedule.Schedule<unknown, unknown>,
  attempt: number,
  error: unknown
): Effect.Effect<Option.Option<Duration.Duration>> =>
  Effect.gen(function*() {
    let now = yield* Clock.currentTimeMillis
    let state = schedule.initial
    let delay = 0
    for (let i = 0; i < Math.max(1, attempt); i++) {
      const [next, , decision] = yield* schedule.step(now, error, state)
      if (ScheduleDecision.isDone(decision)) return Option.none()
      state = next
      const start = ScheduleIntervals.start(decision.intervals)
      delay = Math.max(0, start - now)
      now = Math.max(now, start)
    }
    return Option.some(Duration.millis(delay))
  })
