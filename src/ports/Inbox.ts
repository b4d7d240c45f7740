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
import { dual } from "effect/Function"
import type { EventStoreError } from "./EventStore.js"
import { Outbox } from "./Outbox.js"

/**
 * Run `self` unless `consumer` already processed `eventId`; returns whether it ran.
 *
 * `consumer` names what is deduplicated: a stable name of your choosing, usually the
 * subscription's name (or `"subscription/effect"` when one handler has several effects that must
 * each happen once). The inbox keeps one row per consumer and event id, so two consumers of the
 * same event each run once, and renaming a consumer makes it a new one.
 *
 * Pipeable (`sendWelcome.pipe(Inbox.once("welcome-mail", envelope.eventId))`) or data-first
 * (`Inbox.once(sendWelcome, "welcome-mail", envelope.eventId)`).
 *
 * @since 0.1.0
 * @category combinators
 */
export const once: {
  (
    consumer: string,
    eventId: string
  ): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<boolean, E | EventStoreError, R | Outbox>
  <A, E, R>(
    self: Effect.Effect<A, E, R>,
    consumer: string,
    eventId: string
  ): Effect.Effect<boolean, E | EventStoreError, R | Outbox>
} = dual(3, <A, E, R>(
  self: Effect.Effect<A, E, R>,
  consumer: string,
  eventId: string
): Effect.Effect<boolean, E | EventStoreError, R | Outbox> =>
  Effect.flatMap(
    Outbox,
    (outbox) =>
      Effect.flatMap(
        outbox.markProcessed(consumer, eventId),
        (first) => (first ? Effect.as(self, true) : Effect.succeed(false))
      )
  ))
