/**
 * The in-process wake-up: the command handler signals after each commit that appended events,
 * and the relay, waiting for new events, wakes at once instead of at its next poll.
 *
 * @since 0.1.0
 */
import { Context, Deferred, type Duration, Effect, FiberId } from "effect"

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** Wake everything waiting now. */
  readonly notify: Effect.Effect<void>
  /**
   * A wait for the next notification: take it *before* looking for work, then await it if there
   * was none, so a commit in between is never missed.
   */
  readonly next: Effect.Effect<Effect.Effect<void>>
}

/**
 * A fresh signal.
 *
 * @since 0.1.0
 * @category constructors
 */
export const unsafeMake = (): Service => {
  let current = Deferred.unsafeMake<void>(FiberId.none)
  return {
    notify: Effect.suspend(() => {
      const previous = current
      current = Deferred.unsafeMake<void>(FiberId.none)
      return Deferred.succeed(previous, undefined)
    }),
    next: Effect.sync(() => Deferred.await(current))
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
