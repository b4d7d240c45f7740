/**
 * Delivering process managers' deadlines: each due deadline in a transaction that first claims it
 * (so it is delivered once even with several processes), retried under the process manager's
 * schedule; the runner wakes when the next deadline is due, after commits of the process
 * manager's instances (which may set a sooner one), and at least every poll interval.
 */
import { Clock, Duration, Effect, Option, Schedule } from "effect"
import { type Any, DeadlineReached } from "../../../core/ProcessManager.js"
import { type Deadline, Deadlines } from "../../../ports/Deadlines.js"
import { EventStore } from "../../../ports/EventStore.js"
import type * as CommandHandler from "../../CommandHandler.js"
import * as CommitSignal from "../commitSignal.js"
import { describeCause } from "../delivery/events.js"
import { feed } from "./feed.js"

/** What delivering deadlines needs. */
export type Requirements = EventStore | Deadlines | CommandHandler.CommandHandler

/** Deliver one due deadline, retried under the process manager's schedule; false when it still fails. */
const deliverOne = (pm: Any, deadline: Deadline) =>
  Effect.gen(function*() {
    const store = yield* EventStore
    const deadlines = yield* Deadlines
    const attempt = store.withTransaction(Effect.gen(function*() {
      if (yield* deadlines.claim(deadline)) {
        yield* feed(pm, deadline.instanceId, DeadlineReached.make({ name: deadline.name }))
      }
    }))
    const what = `deadline ${deadline.name} of ${pm.name} ${deadline.instanceId}`
    return yield* attempt.pipe(
      Effect.tapErrorCause((cause) => Effect.logWarning(`${what}: delivery failed, retried: ${describeCause(cause)}`)),
      Effect.retry(pm.retry),
      Effect.as(true),
      Effect.catchAllCause((cause) =>
        // still due (the claim rolled back): the next poll tries it again
        Effect.as(Effect.logError(`${what}: delivery failed after its retries: ${describeCause(cause)}`), false)
      )
    )
  })

/** Deliver the deadlines due now (at most `limit`); returns how many were due. */
export const deliverDue = (pm: Any, limit = 100): Effect.Effect<number, never, Requirements> =>
  Effect.gen(function*() {
    const deadlines = yield* Deadlines
    const now = yield* Clock.currentTimeMillis
    const due = yield* deadlines.due(pm.name, now, limit)
    yield* Effect.forEach(due, (deadline) => deliverOne(pm, deadline), { discard: true })
    return due.length
  }).pipe(
    Effect.catchAllCause((cause) =>
      Effect.as(Effect.logWarning(`deadlines of ${pm.name}: reading them failed, retried`, cause), 0)
    )
  )

/** Deliver a process manager's deadlines when due, until interrupted. */
export const run = (
  pm: Any,
  options?: { readonly pollInterval?: Duration.DurationInput; readonly batchSize?: number }
): Effect.Effect<never, never, Requirements> =>
  Effect.gen(function*() {
    const deadlines = yield* Deadlines
    const signal = yield* CommitSignal.CommitSignal
    const poll = Duration.toMillis(options?.pollInterval ?? "1 second")
    const batchSize = options?.batchSize ?? 100
    const instanceCommits: CommitSignal.Interest = { sources: [{ aggregateType: pm.instances.name }] }
    /** How long to wait for the next deadline, at most a poll interval. */
    const untilNext = Effect.flatMap(
      Effect.all([Clock.currentTimeMillis, Effect.orElseSucceed(deadlines.next(pm.name), () => Option.none<number>())]),
      ([now, next]) =>
        Effect.succeed(
          Option.match(next, { onNone: () => poll, onSome: (at) => Math.min(poll, Math.max(at - now, 1)) })
        )
    )
    const step = Effect.gen(function*() {
      // a commit of an instance may set a deadline sooner than the one waited for: wake on those too
      const commit = yield* signal.nextOf(instanceCommits)
      if ((yield* deliverDue(pm, batchSize)) === batchSize) return
      yield* CommitSignal.awaitOrTimeout(commit, Duration.millis(yield* untilNext))
    })
    return yield* Effect.repeat(step, Schedule.forever).pipe(Effect.zipRight(Effect.never))
  }).pipe(Effect.annotateLogs({ processManager: pm.name }))
