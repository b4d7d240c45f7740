/**
 * The simulated time: a clock whose sleepers wake only when the controller moves it, each in
 * turn once everything the previous one woke has run (the seeded scheduler tells when that is).
 * No real timer is involved, so real time never leaks into a run.
 */
import { Clock, Duration, Effect } from "effect"
import type { SeededScheduler } from "./scheduler.js"

interface Sleeper {
  readonly at: number
  readonly order: number
  readonly wake: () => void
}

export class VirtualClock implements Clock.Clock {
  readonly [Clock.ClockTypeId]: Clock.ClockTypeId = Clock.ClockTypeId
  private now = 0
  private order = 0
  private sleepers: Array<Sleeper> = []
  constructor(private readonly scheduler: SeededScheduler) {}

  unsafeCurrentTimeMillis() {
    return this.now
  }
  readonly currentTimeMillis = Effect.sync(() => this.now)
  unsafeCurrentTimeNanos() {
    return BigInt(this.now) * 1_000_000n
  }
  readonly currentTimeNanos = Effect.sync(() => this.unsafeCurrentTimeNanos())

  sleep(duration: Duration.Duration): Effect.Effect<void> {
    return Effect.async<void>((resume) => {
      const millis = Duration.toMillis(duration)
      if (!Number.isFinite(millis)) return
      const sleeper: Sleeper = {
        at: this.now + Math.max(0, Math.round(millis)),
        order: this.order++,
        wake: () => resume(Effect.void)
      }
      this.sleepers.push(sleeper)
      return Effect.sync(() => {
        this.sleepers = this.sleepers.filter((s) => s !== sleeper)
      })
    })
  }

  /** Move the clock by `millis`, waking the sleepers due on the way in time order. */
  advance(millis: number): Effect.Effect<void> {
    const target = this.now + Math.max(0, millis)
    const next = (): Effect.Effect<void> =>
      Effect.suspend(() => {
        let earliest: Sleeper | undefined
        for (const s of this.sleepers) {
          const sooner = earliest === undefined || s.at < earliest.at ||
            (s.at === earliest.at && s.order < earliest.order)
          if (s.at <= target && sooner) earliest = s
        }
        if (earliest === undefined) {
          this.now = target
          return Effect.void
        }
        const woken = earliest
        this.sleepers = this.sleepers.filter((s) => s !== woken)
        this.now = Math.max(this.now, woken.at)
        woken.wake()
        return Effect.zipRight(this.scheduler.whenIdle, next())
      })
    return Effect.zipRight(this.scheduler.whenIdle, next())
  }
}
