/**
 * The inbox: run an effect at most once per consumer and event, recorded in the same transaction
 * as the effect's database writes. In a relay handler (whose transaction commits with the
 * checkpoint) it makes a redelivered event a no-op. For effects outside the database (email,
 * HTTP), pass the event id on as the idempotency key of the remote call: the remote side then
 * deduplicates what a crash between the call and the commit would repeat.
 *
 * @since 0.1.0
 * @module
 */
import { Effect } from "effect"
import type { EventStoreError } from "./EventStore.js"
import { Outbox } from "./Outbox.js"

/**
 * Run `effect` unless `consumer` already processed `eventId`; returns whether it ran.
 *
 * @since 0.1.0
 * @category combinators
 */
export const once = <A, E, R>(
  consumer: string,
  eventId: string,
  effect: Effect.Effect<A, E, R>
): Effect.Effect<boolean, E | EventStoreError, R | Outbox> =>
  Effect.flatMap(
    Outbox,
    (outbox) =>
      Effect.flatMap(
        outbox.markProcessed(consumer, eventId),
        (first) => (first ? Effect.as(effect, true) : Effect.succeed(false))
      )
  )
