/**
 * An in-memory message broker for unit tests, simulations and single-process prototypes: one
 * log, durable consumers that settle messages as JetStream's do (ack, nak with a delay, term,
 * redelivery after `ackWait`), per-key order, and a duplicate window. It passes the same
 * contract suite as the NATS adapter.
 *
 * It can misbehave on purpose, as real brokers do at their worst: deliver a message twice,
 * lose an acknowledgement (the message comes back after `ackWait`), deliver messages of
 * different keys out of publishing order (never the messages of one key in `per-key` mode), and
 * be unavailable (publishing fails with `Unavailable`, consumers receive nothing, until it is
 * restored). The faults are drawn from a `Random` seeded with `seed`, so a run repeats exactly.
 *
 * It lives next to `MemoryEventStore` in the main entry point: both are the in-memory half of a
 * port, with no dependency beyond `effect`.
 *
 * @since 0.2.0
 * @module
 */
import type { Duration } from "effect"
import { Context, Effect, Layer } from "effect"
import { MessageBroker, type OutgoingMessage, type Service as BrokerService } from "../../ports/MessageBroker.js"
import * as internal from "./internal/memoryBroker.js"

/**
 * Probabilities (0 to 1) of the faults, per delivery and per acknowledgement, and whether
 * messages of different keys are delivered out of publishing order.
 *
 * @since 0.2.0
 * @category models
 */
export interface Faults {
  /** A delivered message is delivered once more right after, whatever became of the first delivery. */
  readonly duplicateDelivery: number
  /** An `ack` succeeds for the caller but the broker forgets it: redelivered after `ackWait`. */
  readonly lostAck: number
  /** Pick the next message among the ready ones at random (keys out of order, each key in order). */
  readonly reorder: boolean
}

/**
 * @since 0.2.0
 * @category models
 */
export interface Options {
  /** The seed of the faults' random draws (default 0). */
  readonly seed?: number
  readonly faults?: Partial<Faults>
  /** How long a message id is remembered for deduplication (default 2 minutes). */
  readonly duplicateWindow?: Duration.DurationInput
}

/**
 * A stored message.
 *
 * @since 0.2.0
 * @category models
 */
export interface StoredMessage extends OutgoingMessage {
  readonly sequence: number
  /** Epoch milliseconds (the `Clock`). */
  readonly publishedAt: number
}

/**
 * The broker and its fault controls.
 *
 * @since 0.2.0
 * @category models
 */
export interface Service extends BrokerService {
  /** `false`: publishing fails with `Unavailable`, settling too, and consumers wait; `true` restores it. */
  readonly setAvailable: (available: boolean) => Effect.Effect<void>
  /** Change some of the faults from now on. */
  readonly setFaults: (faults: Partial<Faults>) => Effect.Effect<void>
  /** Everything stored, in order. */
  readonly messages: Effect.Effect<ReadonlyArray<StoredMessage>>
}

/**
 * @since 0.2.0
 * @category tags
 */
export class MemoryBroker extends Context.Tag("effect-ddd/MemoryBroker")<MemoryBroker, Service>() {}

/**
 * A new, empty broker.
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<Service> => internal.make(options)

/**
 * Provides `MessageBroker` and `MemoryBroker` (the same broker).
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<MessageBroker | MemoryBroker> =>
  Layer.effectContext(
    Effect.map(internal.make(options), (broker) =>
      Context.make(MemoryBroker, broker).pipe(Context.add(MessageBroker, broker)))
  )
