/**
 * Failures of the machinery rather than of the request: an unreachable or busy database (or a
 * conflict that outlasted the retries) is a 503, and the request may be repeated; anything else
 * is a defect, logged and answered with a 500.
 */
import { Effect } from "effect"
import { ServiceUnavailable } from "./HttpErrors.js"

type Infrastructure = { readonly _tag: (typeof infrastructure)[number] }
const infrastructure = [
  "EventStoreError",
  "ConcurrencyConflict",
  "EventDecodeError",
  "EncodeError",
  "SubscriptionFailed",
  "AggregateAlreadyExists"
] as const

const isInfrastructure = <E extends { readonly _tag: string }>(error: E): error is Extract<E, Infrastructure> =>
  (infrastructure as ReadonlyArray<string>).includes(error._tag)

export const handle = <A, E extends { readonly _tag: string }, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.catchIf(
    effect,
    isInfrastructure,
    (error) =>
      (error._tag === "EventStoreError" && (error as { readonly reason?: string }).reason === "Unavailable") ||
        error._tag === "ConcurrencyConflict"
        ? Effect.fail(new ServiceUnavailable({ message: "the database is unavailable or busy; try again later" }))
        : Effect.die(error)
  )
