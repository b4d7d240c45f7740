/**
 * The in-process wake-up: the command handler signals after each commit that appended events,
 * and the relay, waiting for new events, wakes at once instead of at its next poll. Commits made
 * by other processes arrive as `wake` (e.g. from PostgreSQL LISTEN), which wakes the waiters
 * without counting as a local commit, so a forwarder never echoes them back.
 *
 * @since 0.1.0
 * @module
 */
import { Context, Deferred, type Duration, Effect, Exit, FiberId } from "effect"

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** A local commit appended events: wake every waiter and every commit listener. */
  readonly notify: Effect.Effect<void>
  /** Events were committed elsewhere: wake every waiter. */
  readonly wake: Effect.Effect<void>
  /**
   * A wait for the next wake-up: take it *before* looking for work, then await it if there was
   * none, so a commit in between is never missed.
   */
  readonly next: Effect.Effect<Effect.Effect<void>>
  /** A wait for the next local commit (taken before, awaited after, like `next`). */
  readonly nextCommit: Effect.Effect<Effect.Effect<void>>
}

/** A latch reopened by `open`; a new one is made only when a wait was taken on the current one. */
const makeLatch = () => {
  let current = Deferred.unsafeMake<void>(FiberId.none)
  let taken = false
  return {
    /** Open the latch now (in one step of the caller's fiber, for `notify` on every command). */
    unsafeOpen: () => {
      if (!taken) return
      taken = false
      const previous = current
      current = Deferred.unsafeMake<void>(FiberId.none)
      Deferred.unsafeDone(previous, Exit.void)
    },
    next: Effect.sync(() => {
      taken = true
      return Deferred.await(current)
    })
  }
}

/**
 * A fresh signal.
 *
 * @since 0.1.0
 * @category constructors
 */
export const unsafeMake = (): Service => {
  const waiters = makeLatch()
  const commits = makeLatch()
  return {
    notify: Effect.sync(() => {
      commits.unsafeOpen()
      waiters.unsafeOpen()
    }),
    wake: Effect.sync(waiters.unsafeOpen),
    next: waiters.next,
    nextCommit: commits.next
  }
}

const shared = unsafeMake()

/**
 * The signal; one per process unless another is provided.
 *
 * @since 0.1.0
 * @category tags
 */
export class CommitSignal extends Context.Reference<CommitSignal>()("effect-ddd/CommitSignal", {
  defaultValue: (): Service => shared
}) {}

/**
 * Wait for a taken notification or the timeout, whichever comes first.
 *
 * @since 0.1.0
 * @category combinators
 */
export const awaitOrTimeout = (wait: Effect.Effect<void>, timeout: Duration.DurationInput): Effect.Effect<void> =>
  Effect.asVoid(Effect.timeoutOption(wait, timeout))
