/**
 * The inbox: which messages a consumer has already processed, recorded in the same transaction as
 * the consumer's database writes, so a redelivered message is a no-op. A consumer is any name that
 * identifies one reader of a message stream: a subscription, a process manager, an integration
 * consumer.
 *
 * For effects outside the database (email, HTTP), pass the message id on as the idempotency key of
 * the remote call: the remote side then deduplicates what a crash between the call and the
 * commit would repeat.
 *
 * @since 0.1.0
 * @module
 */
import { Context, Effect } from "effect"
import { dual } from "effect/Function"
import type { EventStoreError } from "./EventStore.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /**
   * Record that `consumer` processed `messageId`; false if it already had. Joins the ambient
   * transaction of `EventStore.withTransaction`.
   */
  readonly markProcessed: (consumer: string, messageId: string) => Effect.Effect<boolean, EventStoreError>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class Inbox extends Context.Tag("effect-ddd/Inbox")<Inbox, Service>() {}

/**
 * Run `effect` unless `consumer` already processed `messageId` (an event id, a broker message
 * id); returns whether it ran.
 *
 * `consumer` names what is deduplicated: a stable name of your choosing, usually the
 * subscription's name (or `"subscription/effect"` when one handler has several effects that must
 * each happen once). The inbox keeps one row per consumer and message id, so two consumers of the
 * same event each run once, and renaming a consumer makes it a new one.
 *
 * Pipeable (`sendWelcome.pipe(Inbox.once("welcome-mail", envelope.eventId))`) or data-first
 * (`Inbox.once(sendWelcome, "welcome-mail", envelope.eventId)`).
 *
 * @since 0.1.0
 * @category combinators
 */
export const once: {
  (consumer: string, messageId: string): <A, E, R>(
    effect: Effect.Effect<A, E, R>
  ) => Effect.Effect<boolean, E | EventStoreError, R | Inbox>
  <A, E, R>(
    effect: Effect.Effect<A, E, R>,
    consumer: string,
    messageId: string
  ): Effect.Effect<boolean, E | EventStoreError, R | Inbox>
} = dual(
  (args) => Effect.isEffect(args[0]),
  <A, E, R>(
    effect: Effect.Effect<A, E, R>,
    consumer: string,
    messageId: string
  ): Effect.Effect<boolean, E | EventStoreError, R | Inbox> =>
    Effect.flatMap(
      Inbox,
      (inbox) =>
        Effect.flatMap(
          inbox.markProcessed(consumer, messageId),
          (first) => (first ? Effect.as(effect, true) : Effect.succeed(false))
        )
    )
)
