/**
 * Dead letters: what could not be delivered to a subscription, and what waits behind it so that
 * the aggregate's order holds, until an operator redrives or discards it.
 *
 * Writes join the ambient transaction of `EventStore.withTransaction`.
 *
 * @since 0.1.0
 * @module
 */
import { Context, type Effect, type Option, Schema } from "effect"
import type { EventStoreError } from "./EventStore.js"

/**
 * No dead letter has this id.
 *
 * @since 0.1.0
 * @category errors
 */
export class DeadLetterNotFound extends Schema.TaggedError<DeadLetterNotFound>()("DeadLetterNotFound", {
  id: Schema.String
}) {
  override get message() {
    return `dead letter ${this.id} does not exist`
  }
}

/**
 * A broker message kept with a dead letter of an integration consumer, so it can be redriven
 * (the subscriptions' dead letters need none: their events stay in the log).
 *
 * @since 0.2.0
 * @category models
 */
export interface Message {
  readonly subject: string
  readonly partitionKey: string
  readonly headers: Readonly<Record<string, string>>
  readonly payload: Uint8Array
}

/**
 * An event that could not be delivered to a subscription (or a broker message to an integration
 * consumer):
 * - `failed`: its handler failed after every retry;
 * - `poison`: its payload cannot be decoded (dead-lettered at once);
 * - `parked`: a later event of an aggregate whose earlier event is dead-lettered, held back so
 *   the aggregate's order holds.
 *
 * @since 0.1.0
 * @category models
 */
export interface DeadLetter {
  readonly id: string
  readonly subscription: string
  readonly partition: number
  readonly kind: "failed" | "poison" | "parked"
  readonly eventId: string
  readonly position: number
  readonly aggregateType: string
  readonly aggregateId: string
  readonly version: number
  readonly eventType: string
  readonly error: string
  readonly attempts: number
  /** Epoch milliseconds. */
  readonly firstFailedAt: number
  readonly lastFailedAt: number
  /** `redrive`: redelivery was requested and waits for the partition's owner. */
  readonly status: "open" | "redrive"
  /**
   * The message of an integration consumer's dead letter (then `subscription` is the consumer's
   * name, `eventId` the message id, `aggregateId` its partition key, `position` its broker
   * sequence). Since 0.2.0.
   */
  readonly message?: Message | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Filter {
  readonly subscription?: string | undefined
  readonly aggregateType?: string | undefined
  readonly aggregateId?: string | undefined
  readonly partition?: number | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** Record a dead letter, replacing one with the same id. */
  readonly add: (deadLetter: DeadLetter) => Effect.Effect<void, EventStoreError>
  /** Dead letters matching a filter, by position. */
  readonly list: (filter: Filter) => Effect.Effect<ReadonlyArray<DeadLetter>, EventStoreError>
  /** One dead letter by id. */
  readonly get: (id: string) => Effect.Effect<Option.Option<DeadLetter>, EventStoreError>
  /** Mark a dead letter `redrive` (its partition's owner redelivers it) or back `open`. */
  readonly setStatus: (
    id: string,
    status: DeadLetter["status"]
  ) => Effect.Effect<void, DeadLetterNotFound | EventStoreError>
  /** Remove dead letters (delivered by a redrive, or discarded); unknown ids are ignored. */
  readonly remove: (ids: ReadonlyArray<string>) => Effect.Effect<void, EventStoreError>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class DeadLetters extends Context.Tag("effect-ddd/DeadLetters")<DeadLetters, Service>() {}
