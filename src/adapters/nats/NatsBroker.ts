/**
 * The `MessageBroker` on NATS JetStream (nats-server 2.9 or later, with the `@nats-io/transport-node`
 * and `@nats-io/jetstream` 3.x clients).
 *
 * **The stream.** All integration events go to one stream (`INTEGRATION`, capturing
 * `integration.>`), provisioned when the layer starts: created when missing, updated when a
 * setting differs, left alone otherwise. Its settings, and why:
 *
 * - `storage: "file"`: messages survive a server restart.
 * - `maxAge: 7 days`: how long a consumer may be down and still catch up; older messages are
 *   dropped (retention by limits: every consumer reads every message, and a consumer added later
 *   can read what is retained).
 * - `duplicateWindow: 10 minutes`: a message id published again within it is acknowledged as a
 *   duplicate and not stored. It covers a publisher's retries after a timeout or a crash; an older
 *   republish reaches the consumers, whose inbox drops it. The server keeps every id of the window
 *   in memory, so a longer window costs memory at high rates. It must not exceed `maxAge`.
 * - `replicas: 1`: set 3 on a cluster, so the stream survives the loss of a server.
 * - `partitions: 8`: how many durables a `per-key` consumer spreads keys over (see below).
 *   Changing it moves keys to other partitions: the layer refuses to start with a count different
 *   from the stream's.
 *
 * **Subjects.** A message is stored under `<prefix>.<partition>.<subject>.<key>`, where the
 * partition is FNV-1a(key) mod `partitions` (the hash of nats-server's `partition()` mapping) and
 * the key is escaped unless it is made of letters, digits, `-` and `_`.
 *
 * **Per-key order.** A `per-key` consumer named `n` is `partitions` durables `n-p0`, `n-p1`, ...,
 * each filtering its partition with `max_ack_pending: 1`: the server hands out a partition's next
 * message only once the previous one is acknowledged or terminated, whatever the redeliveries, so
 * a later message of a key never overtakes an earlier one, and the partitions run in parallel. The
 * cost: within a partition, one message at a time, a round trip per message, and a message being
 * retried (nak with a delay) holds up the other keys of its partition. `unordered` consumers are
 * one durable with `max_ack_pending: maxInFlight` instead. Durables never give up on a message by
 * themselves (`max_deliver: -1`): the application retries with `nak(delay)` and terminates
 * poison after recording it.
 *
 * **Connection.** Established in the background, retried until the server answers (so a service
 * starts while the broker is down; `startup: "wait"`, the default, waits for it before the layer
 * is built), reconnecting forever afterwards, drained when the layer is released. While
 * disconnected, publishing fails at once with `Unavailable`; consumers resume by themselves.
 *
 * @since 0.2.0
 * @module
 */
import type { Duration, Scope } from "effect"
import { Context, Effect, Layer } from "effect"
import {
  type ConsumerOptions,
  MessageBroker,
  type MessageBrokerError,
  type Service as BrokerService
} from "../../ports/MessageBroker.js"
import * as internal from "./internal/broker.js"

/**
 * The stream's settings (see the module documentation for the defaults and why).
 *
 * @since 0.2.0
 * @category models
 */
export interface StreamOptions {
  /** Default `INTEGRATION`. */
  readonly name?: string
  /** The first subject tokens of everything stored (default `integration`). */
  readonly subjectPrefix?: string
  /** Default 8. Fixed for the life of the stream. */
  readonly partitions?: number
  /** Default 1; 3 on a cluster. */
  readonly replicas?: number
  /** Default `file`. */
  readonly storage?: "file" | "memory"
  /** Default 7 days. */
  readonly maxAge?: Duration.DurationInput
  /** Default 10 minutes. */
  readonly duplicateWindow?: Duration.DurationInput
  /** Default -1 (no limit); the oldest messages are dropped beyond it. */
  readonly maxBytes?: number
}

/**
 * Connection options passed to nats.js `connect()` (see its `ConnectionOptions`): the
 * connection's name, credentials, TLS, pings. The reconnection settings are the adapter's.
 *
 * @since 0.2.0
 * @category models
 */
export interface ConnectionOptions {
  /** Shown in the server's monitoring (default `effect-ddd`). */
  readonly name?: string
  readonly user?: string
  readonly pass?: string
  readonly token?: string
  /** nats.js `TlsOptions` (`{ caFile, certFile, keyFile, ... }`). */
  readonly tls?: Readonly<Record<string, unknown>>
  /** Milliseconds between client pings (nats.js default 2 minutes). */
  readonly pingInterval?: number
  /**
   * Any other nats.js connection option, passed as is. `noAsyncTraces` is `true` unless set here:
   * nats.js would otherwise build two `Error`s per request, acknowledgements included, only to
   * give a timeout the stack of the call that made the request.
   */
  readonly other?: Readonly<Record<string, unknown>>
}

/**
 * @since 0.2.0
 * @category models
 */
export interface Options {
  /** `nats://host:4222`, or several servers of a cluster. */
  readonly servers: string | ReadonlyArray<string>
  /** Further connection options. */
  readonly connection?: ConnectionOptions
  readonly stream?: StreamOptions
  /** Waiting for the broker's answer to a publish or an API request (default 5 s). */
  readonly requestTimeout?: Duration.DurationInput
  /** Between connection attempts (default 500 ms). */
  readonly reconnectWait?: Duration.DurationInput
  /** `wait` (default): the layer is built once connected and provisioned; `background`: at once. */
  readonly startup?: "wait" | "background"
}

/**
 * What provisioning did with a stream or a durable consumer.
 *
 * @since 0.2.0
 * @category models
 */
export interface ProvisionReport {
  readonly name: string
  readonly action: "created" | "updated" | "unchanged"
  /** The settings that differed from the live configuration. */
  readonly changed: ReadonlyArray<string>
}

/**
 * The broker, with what is specific to NATS.
 *
 * @since 0.2.0
 * @category models
 */
export interface Service extends BrokerService {
  /** What provisioning did with the stream (waits for the first connection). */
  readonly provisioned: Effect.Effect<ProvisionReport, MessageBrokerError>
  /** Provision the durables of a consumer (what `consume` does first). */
  readonly ensureConsumers: (
    options: ConsumerOptions
  ) => Effect.Effect<ReadonlyArray<ProvisionReport>, MessageBrokerError>
  readonly status: Effect.Effect<"connecting" | "connected" | "disconnected" | "closed">
}

/**
 * @since 0.2.0
 * @category tags
 */
export class NatsBroker extends Context.Tag("effect-ddd/NatsBroker")<NatsBroker, Service>() {}

/**
 * A broker connected for the life of the scope.
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<Service, MessageBrokerError, Scope.Scope> =>
  internal.make(options)

/**
 * Provides `MessageBroker` and `NatsBroker` (the same broker).
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<MessageBroker | NatsBroker, MessageBrokerError> =>
  Layer.scopedContext(
    Effect.map(make(options), (broker) => Context.make(NatsBroker, broker).pipe(Context.add(MessageBroker, broker)))
  )
