/**
 * The message broker between services: publish a batch and wait for the broker's
 * acknowledgements; consume from a durable, named consumer as a `Stream` of messages that are
 * acknowledged one by one.
 *
 * The port promises what every serious broker gives, and nothing that only one of them has:
 *
 * - **At least once.** A message can be delivered again (a lost acknowledgement, a restart, a
 *   `nak`): consumers apply each message id once (the inbox).
 * - **Order per partition key.** With `ordering: "per-key"` (the default) a message is never
 *   delivered before every earlier message with the same partition key was acknowledged or
 *   terminated, whatever the redeliveries; messages with different keys are delivered in parallel.
 * - **Deduplicated publishing.** The message id is the deduplication key: a republished message
 *   inside the broker's duplicate window is acknowledged as a `duplicate`, not stored again.
 * - **Unknown outcomes are said so.** A publish that timed out may or may not have been stored
 *   (`reason: "Timeout"`): publish it again with the same id.
 *
 * Why this shape fits brokers other than NATS JetStream (the first adapter), without changes to
 * the code that uses it:
 *
 * - Kafka: `subject` names the topic (or a topic plus a type header), `partitionKey` is the record
 *   key, which Kafka's partitioner maps to a partition, so per-key order is Kafka's own partition
 *   order; `id` travels as a header for the consumers' inboxes. `ack` commits the offset once the
 *   handler's inbox write has committed (offsets committed in order per partition), `nak(delay)`
 *   pauses the partition and seeks back after the delay, `term` commits past the message after it
 *   was recorded as a dead letter. Provisioning (topics, partition counts) is the adapter's layer
 *   option, as streams are for NATS.
 * - RabbitMQ: `subject` is the routing key on a topic exchange (`*` and `>` become `*` and `#`),
 *   per-key order comes from a consistent-hash exchange over queues with a single active consumer
 *   each, `ack`/`term` are `basic.ack`/`basic.reject` without requeue, `nak(delay)` republishes
 *   through a delay queue, and `id` is the `message-id` property.
 *
 * Subjects are dot-separated tokens (`catalog.course-published.v1`); consumers select them with
 * patterns where `*` matches one token and `>` one or more trailing tokens.
 *
 * @since 0.2.0
 * @module
 */
import type { Duration, Effect, Stream } from "effect"
import { Context, Schema } from "effect"
import * as internal from "./internal/subjects.js"

/**
 * A message to publish.
 *
 * @since 0.2.0
 * @category models
 */
export interface OutgoingMessage {
  /** The deduplication key (for integration events: the CloudEvent id). */
  readonly id: string
  /** Dot-separated tokens, no wildcards: `catalog.course-published.v1`. */
  readonly subject: string
  /** Messages with the same key are delivered in publishing order (usually the aggregate id). */
  readonly partitionKey: string
  /** Header names are case-sensitive; names starting with `Nats-` are reserved. */
  readonly headers: Readonly<Record<string, string>>
  readonly payload: Uint8Array
}

/**
 * The broker's acknowledgement of one published message.
 *
 * @since 0.2.0
 * @category models
 */
export interface PublishAck {
  readonly id: string
  /** The message's position in the broker (a stream sequence, an offset). */
  readonly sequence: number
  /** The id was already stored (inside the duplicate window): nothing new was stored. */
  readonly duplicate: boolean
}

/**
 * A delivered message. Settle it with exactly one of `ack`, `nak` or `term`; one that is not
 * settled is delivered again after the consumer's `ackWait`.
 *
 * @since 0.2.0
 * @category models
 */
export interface IncomingMessage {
  readonly id: string
  readonly subject: string
  readonly partitionKey: string
  readonly headers: Readonly<Record<string, string>>
  readonly payload: Uint8Array
  /** 1 on the first delivery. */
  readonly deliveryCount: number
  /** The message's position in the broker. */
  readonly sequence: number
  /** Processed: never deliver it again. Waits for the broker's confirmation. */
  readonly ack: Effect.Effect<void, MessageBrokerError>
  /** Not processed: deliver it again after `delay` (at once without one). */
  readonly nak: (delay?: Duration.DurationInput) => Effect.Effect<void, MessageBrokerError>
  /** Never deliver it again, although it was not processed (poison: record it first). */
  readonly term: Effect.Effect<void, MessageBrokerError>
  /** Still working on it: restart the `ackWait` timer. */
  readonly inProgress: Effect.Effect<void, MessageBrokerError>
}

/**
 * A durable consumer: the broker remembers what it acknowledged across restarts, under its name.
 *
 * @since 0.2.0
 * @category models
 */
export interface ConsumerOptions {
  /** Letters, digits, `-` and `_`. */
  readonly name: string
  /** Subject patterns (`catalog.>`, `catalog.*.v1`). */
  readonly subjects: ReadonlyArray<string>
  /**
   * `per-key` (default): order per partition key, parallel across keys. `unordered`: up to
   * `maxInFlight` messages at once, in no particular order.
   */
  readonly ordering?: "per-key" | "unordered"
  /** How long a delivered message may stay unsettled before it is delivered again (default 30 s). */
  readonly ackWait?: Duration.DurationInput
  /** In `unordered` mode, the most messages delivered and not yet settled (default 1,000). */
  readonly maxInFlight?: number
  /** Where a new consumer starts: the oldest retained message (`all`, default) or the next one (`new`). */
  readonly deliver?: "all" | "new"
}

/**
 * The broker failed or refused. `Unavailable`: not reachable, nothing was stored. `Rejected`: the
 * broker (or the adapter, before sending) refused the message or the request; retrying the same
 * request fails again. `Timeout`: no answer in time: it may or may not have been stored, so
 * publish again with the same id. `acknowledged` lists what a failed batch got stored.
 *
 * @since 0.2.0
 * @category errors
 */
export class MessageBrokerError extends Schema.TaggedError<MessageBrokerError>()("MessageBrokerError", {
  reason: Schema.Literal("Unavailable", "Rejected", "Timeout"),
  detail: Schema.String,
  acknowledged: Schema.optionalWith(
    Schema.Array(Schema.Struct({ id: Schema.String, sequence: Schema.Number, duplicate: Schema.Boolean })),
    { default: () => [] }
  ),
  cause: Schema.optional(Schema.Defect)
}) {
  override get message() {
    return `message broker: ${this.reason}: ${this.detail}`
  }
}

/**
 * @since 0.2.0
 * @category models
 */
export interface Service {
  /**
   * Publish and wait for the acknowledgements, returned in the order of `messages`. Messages with
   * the same partition key are sent one after the other (a later one only once the earlier was
   * acknowledged), different keys concurrently; when a message fails, the later messages of its
   * key are not sent, so a retry of the batch keeps their order.
   */
  readonly publish: (messages: ReadonlyArray<OutgoingMessage>) => Effect.Effect<
    ReadonlyArray<PublishAck>,
    MessageBrokerError
  >
  /** Consume from a durable consumer (created, or updated to these options, first). */
  readonly consume: (options: ConsumerOptions) => Stream.Stream<IncomingMessage, MessageBrokerError>
  /** The messages a durable consumer has not settled yet (not delivered, or delivered and unsettled). */
  readonly lag: (consumer: string) => Effect.Effect<number, MessageBrokerError>
}

/**
 * @since 0.2.0
 * @category tags
 */
export class MessageBroker extends Context.Tag("effect-ddd/MessageBroker")<MessageBroker, Service>() {}

/**
 * Whether a subject matches a pattern (`*` one token, `>` one or more trailing tokens).
 *
 * @since 0.2.0
 * @category guards
 */
export const subjectMatches = (pattern: string, subject: string): boolean => internal.matches(pattern, subject)

/**
 * The reason a subject cannot be published to, if any.
 *
 * @since 0.2.0
 * @category guards
 */
export const invalidSubject = (subject: string): string | undefined => internal.invalidSubject(subject)

/**
 * The reason a subject pattern cannot be consumed, if any.
 *
 * @since 0.2.0
 * @category guards
 */
export const invalidPattern = (pattern: string): string | undefined => internal.invalidPattern(pattern)
