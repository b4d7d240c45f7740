/**
 * Integration consumers: the receiving side of integration events. A consumer pulls from a
 * durable, per-key broker consumer (`MessageBroker.consume`) and applies each message in the
 * local database, once:
 *
 * ```ts
 * const courses = IntegrationConsumer.make({
 *   name: "enrollment-courses",
 *   events: [CoursePublished, StudentRegisteredV1],
 *   handle: (received) => ... // received.type discriminates; received.data is upcast
 * })
 * IntegrationConsumer.layer([courses]) // needs a MessageBroker and the stores
 * ```
 *
 * - **Once.** The handler runs in a local transaction (`EventStore.withTransaction`) together with
 *   an inbox row keyed by the consumer's name and the message id: a redelivered message (a lost
 *   acknowledgement, a restart, a republish) is applied once. The message is acknowledged only
 *   after that transaction commits.
 * - **Order per key.** Messages of one partition key (the producing aggregate's id) are handled
 *   one after the other, whatever the retries and redeliveries: the broker hands out a key's next
 *   message only once the previous one is settled. Different keys are handled in parallel (up to
 *   `concurrency` at once).
 * - **Poison.** A message that is not a CloudEvent, has a type or version the consumer does not
 *   accept, or data that does not match the contract is dead-lettered at once (kind `poison`) and
 *   terminated; it never blocks other keys.
 * - **Retries.** A failing handler is retried with the broker's `nak(delay)`, the delay from
 *   `retry` at the message's delivery count; when `retry` gives up the message is dead-lettered
 *   (kind `failed`) and terminated. Later messages of a key with a dead letter are parked behind
 *   it (kind `parked`), so the key's order holds.
 * - **Redrive.** Dead letters keep the message; marked `redrive` (`effect-ddd dead-letters
 *   redrive`, or `DeadLetters.setStatus`), the key's dead letters are handled again, in order, by
 *   the consumer's layer (it reads its dead letters every `pollInterval`).
 * - **Telemetry.** The handler's span (`IntegrationConsumer.handle`) continues the producer's trace
 *   (the message's `traceparent`); the consumer's lag (`MessageBroker.lag`) is the
 *   `effect_ddd_consumer_lag` gauge, and a health measure (`Health.Options.consumers`).
 *
 * A dead letter of a consumer names the consumer as its `subscription`, the message id as its
 * `eventId`, the partition key as its `aggregateId` (`aggregateType` is `message`), the broker
 * sequence as its `position`, and keeps the message.
 *
 * @since 0.2.0
 * @module
 */
import type { Duration, Effect, Schedule } from "effect"
import { Layer } from "effect"
import type * as IntegrationEvent from "../core/IntegrationEvent.js"
import * as Subscription from "../core/Subscription.js"
import type { DeadLetters } from "../ports/DeadLetters.js"
import type { EventStore } from "../ports/EventStore.js"
import type { Inbox } from "../ports/Inbox.js"
import type { MessageBroker } from "../ports/MessageBroker.js"
import * as internal from "./internal/integration/consumers.js"

/**
 * @since 0.2.0
 * @category models
 */
export interface IntegrationConsumer<in out Received, out E, out R> {
  /** The durable broker consumer's name, the inbox's consumer name and the dead letters' subscription. */
  readonly name: string
  readonly events: ReadonlyArray<IntegrationEvent.Accepting<string, any>>
  /** The broker subject patterns it reads: every version of each accepted type (`<type>.*`). */
  readonly subjects: ReadonlyArray<string>
  /** Handle one message, inside the local transaction that records it in the inbox. */
  readonly handle: (received: Received) => Effect.Effect<void, E, R>
  /** How a failing message is retried (by delivery count) before it is dead-lettered. */
  readonly retry: Schedule.Schedule<unknown, unknown>
  /** Most messages (of different keys) handled at once. */
  readonly concurrency: number
  /** How long a message may stay unsettled before the broker delivers it again. */
  readonly ackWait: Duration.DurationInput | undefined
}

/**
 * Any consumer.
 *
 * @since 0.2.0
 * @category models
 */
export type Any = IntegrationConsumer<any, any, any>

/**
 * What a consumer's handler requires.
 *
 * @since 0.2.0
 * @category models
 */
export type Requirements<C> = C extends IntegrationConsumer<any, any, infer R> ? R : never

/**
 * Define a consumer of integration events: `events` lists what it accepts (contracts, or
 * `IntegrationEvent.accepting(current, ...older)`); `handle` receives them decoded and upcast,
 * discriminated by `type`.
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = <
  const Events extends ReadonlyArray<IntegrationEvent.Accepting<string, any>>,
  E = never,
  R = never
>(options: {
  readonly name: string
  readonly events: Events
  readonly handle: (received: IntegrationEvent.ReceivedOf<Events[number]>) => Effect.Effect<void, E, R>
  /** Default `Subscription.defaultRetry` (5 retries, exponential from 100 ms). */
  readonly retry?: Schedule.Schedule<unknown, unknown>
  /** Default 16. */
  readonly concurrency?: number
  /** Default: the broker's (30 s). Longer than the slowest handler. */
  readonly ackWait?: Duration.DurationInput
}): IntegrationConsumer<IntegrationEvent.ReceivedOf<Events[number]>, E, R> => {
  const consumer = {
    name: options.name,
    events: options.events,
    subjects: [] as ReadonlyArray<string>,
    handle: options.handle,
    retry: options.retry ?? Subscription.defaultRetry,
    concurrency: options.concurrency ?? 16,
    ackWait: options.ackWait
  }
  return { ...consumer, subjects: internal.subjectsOf(consumer) }
}

/**
 * @since 0.2.0
 * @category models
 */
export interface LayerOptions {
  /** How often the dead letters are read (redrives, parked keys); default 1 second. */
  readonly pollInterval?: Duration.DurationInput
  /** How often the lag gauge is refreshed; default 5 seconds. */
  readonly lagInterval?: Duration.DurationInput
}

/**
 * Run consumers while the layer's scope is open. It needs the broker, the event store (its
 * transactions), the inbox and the dead letters, in the same database as the handlers' writes.
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = <C extends Any>(
  consumers: ReadonlyArray<C>,
  options: LayerOptions = {}
): Layer.Layer<never, never, MessageBroker | EventStore | Inbox | DeadLetters | Requirements<C>> =>
  Layer.scopedDiscard(internal.run(consumers, options)) as Layer.Layer<
    never,
    never,
    MessageBroker | EventStore | Inbox | DeadLetters | Requirements<C>
  >
