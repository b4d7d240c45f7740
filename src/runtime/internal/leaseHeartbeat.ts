/**
 * Keeping a partition's lease while its worker delivers: renewed every third of its TTL on a fiber
 * of its own, so a long retry schedule or a slow handler never lets it lapse.
 */
import type { Clock } from "effect"
import { Duration, Effect, Either, Option, Schedule } from "effect"
import type * as Checkpoints from "../../ports/Checkpoints.js"

/**
 * Renew `lease` every third of `ttlMillis` with `renew` (which takes the current time); completes
 * once the lease is lost: another owner took it, or renewals failed for so long that it would
 * expire before the next attempt (the worker stops before the lease can be taken over).
 */
export const heartbeat = <E>(
  lease: Checkpoints.Lease,
  ttlMillis: number,
  /** The clock it sleeps by between renewals (see `Driver.leaseClock`); times come from the ambient one. */
  clock: Clock.Clock,
  renew: (now: number) => Effect.Effect<Option.Option<Checkpoints.Lease>, E>
): Effect.Effect<void> =>
  Effect.flatMap(Effect.clock, (ambient) => {
    const name = `${lease.subscription}/${lease.partition}`
    let expiresAt = lease.expiresAt
    /** One renewal: true while the lease is held. */
    const renewal = Effect.flatMap(ambient.currentTimeMillis, (now) =>
      Effect.flatMap(Effect.either(renew(now)), (renewed) => {
        if (Either.isRight(renewed)) {
          if (Option.isNone(renewed.right) || renewed.right.value.token !== lease.token) {
            // taken over, or fenced by a checkpoint reset: a change of hands, not a fault
            return Effect.as(Effect.logDebug(`lease of ${name} changed hands`), false)
          }
          expiresAt = renewed.right.value.expiresAt
          return Effect.succeed(true)
        }
        if (now + ttlMillis / 3 >= expiresAt) {
          return Effect.as(
            Effect.logWarning(`lease of ${name} could not be renewed before it expires; delivery stops`, renewed.left),
            false
          )
        }
        return Effect.as(Effect.logWarning(`lease of ${name} could not be renewed`, renewed.left), true)
      }))
    return Effect.delay(renewal, Duration.millis(ttlMillis / 3)).pipe(
      Effect.repeat(
        Schedule.spaced(Duration.millis(ttlMillis / 3)).pipe(Schedule.whileInput((held: boolean) =>
          held
        ))
      ),
      Effect.asVoid,
      Effect.withClock(clock)
    )
  })
