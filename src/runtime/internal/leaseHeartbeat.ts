/**
 * Keeping a partition's lease while its worker delivers: renewed every third of its TTL on a fiber
 * of its own, so a long retry schedule or a slow handler never lets it lapse.
 */
import { Clock, Duration, Effect, Either, Option } from "effect"
import type * as Outbox from "../../ports/Outbox.js"

/**
 * The process's own clock: leases are about real time (a process that stopped renewing), so the
 * heartbeat keeps time with it even when a test clock is provided; moving a test clock by an hour
 * would otherwise replay a thousand renewals.
 */
const processClock = Clock.make()

/**
 * Renew `lease` every third of `ttlMillis` with `renew` (which takes the current time); completes
 * once the lease is lost: another owner took it, or renewals failed for so long that it would
 * expire before the next attempt (the worker stops before the lease can be taken over).
 */
export const heartbeat = <E>(
  lease: Outbox.Lease,
  ttlMillis: number,
  renew: (now: number) => Effect.Effect<Option.Option<Outbox.Lease>, E>
): Effect.Effect<void> =>
  Effect.gen(function*() {
    const interval = Duration.millis(ttlMillis / 3)
    let expiresAt = lease.expiresAt
    while (true) {
      yield* processClock.sleep(interval)
      const now = yield* Clock.currentTimeMillis
      const renewed = yield* Effect.either(renew(now))
      if (Either.isRight(renewed)) {
        if (Option.isNone(renewed.right) || renewed.right.value.token !== lease.token) {
          // taken over, or fenced by a checkpoint reset: a change of hands, not a fault
          return yield* Effect.logDebug(`lease of ${lease.subscription}/${lease.partition} changed hands`)
        }
        expiresAt = renewed.right.value.expiresAt
      } else if (now + ttlMillis / 3 >= expiresAt) {
        return yield* Effect.logWarning(
          `lease of ${lease.subscription}/${lease.partition} could not be renewed before it expires; delivery stops`,
          renewed.left
        )
      } else {
        yield* Effect.logWarning(`lease of ${lease.subscription}/${lease.partition} could not be renewed`, renewed.left)
      }
    }
  })
