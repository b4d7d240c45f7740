/**
 * Idempotent provisioning: read the live configuration, create what is missing, update only the
 * fields that differ (a second run sends no write request), and refuse what cannot change.
 */
import {
  AckPolicy,
  type ConsumerConfig,
  DeliverPolicy,
  DiscardPolicy,
  JetStreamApiCodes,
  type JetStreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig
} from "@nats-io/jetstream"
import { nanos } from "@nats-io/transport-node"
import { Duration, Effect } from "effect"
import { MessageBrokerError } from "../../../ports/MessageBroker.js"
import { isNotFound, toBrokerError } from "./errors.js"

export interface StreamSettings {
  readonly name: string
  readonly subjectPrefix: string
  readonly partitions: number
  readonly replicas: number
  readonly storage: "file" | "memory"
  readonly maxAge: Duration.Duration
  readonly duplicateWindow: Duration.Duration
  readonly maxBytes: number
}

export interface Report {
  readonly name: string
  readonly action: "created" | "updated" | "unchanged"
  /** The fields that differed from the live configuration (for `updated`). */
  readonly changed: ReadonlyArray<string>
}

const DESCRIPTION = /effect-ddd integration events in (\d+) partitions/

export const streamConfig = (settings: StreamSettings): Partial<StreamConfig> & { name: string } => ({
  name: settings.name,
  description: `effect-ddd integration events in ${settings.partitions} partitions`,
  subjects: [`${settings.subjectPrefix}.>`],
  storage: settings.storage === "file" ? StorageType.File : StorageType.Memory,
  retention: RetentionPolicy.Limits,
  discard: DiscardPolicy.Old,
  num_replicas: settings.replicas,
  max_age: nanos(Duration.toMillis(settings.maxAge)),
  duplicate_window: nanos(Duration.toMillis(settings.duplicateWindow)),
  max_bytes: settings.maxBytes
})

const differing = (desired: Record<string, unknown>, live: Record<string, unknown>) =>
  Object.entries(desired)
    .filter(([key, value]) => JSON.stringify(value) !== JSON.stringify(live[key]))
    .map(([key]) => key)

const rejected = (detail: string) => new MessageBrokerError({ reason: "Rejected", detail })

export const ensureStream = (
  jsm: JetStreamManager,
  settings: StreamSettings
): Effect.Effect<Report, MessageBrokerError> =>
  Effect.gen(function*() {
    const desired = streamConfig(settings)
    const live = yield* Effect.tryPromise({
      try: () =>
        jsm.streams.info(settings.name).then((info) => info.config, (e) => {
          if (isNotFound(e, JetStreamApiCodes.StreamNotFound)) return undefined
          throw e
        }),
      catch: toBrokerError(`cannot read stream ${settings.name}`)
    })
    if (live === undefined) {
      // two services racing here is fine: `add` with an identical configuration succeeds on the server too
      yield* Effect.tryPromise({
        try: () => jsm.streams.add(desired),
        catch: toBrokerError(`cannot create stream ${settings.name}`)
      })
      return { name: settings.name, action: "created", changed: [] }
    }
    const partitions = DESCRIPTION.exec(live.description ?? "")?.[1]
    if (partitions !== undefined && Number(partitions) !== settings.partitions) {
      return yield* Effect.fail(rejected(
        `stream ${settings.name} has ${partitions} partitions and the options say ${settings.partitions}: ` +
          "changing the count moves keys to other partitions; drain the consumers and use a new stream"
      ))
    }
    const changed = differing(desired, live as unknown as Record<string, unknown>)
    if (changed.length === 0) return { name: settings.name, action: "unchanged", changed }
    const { name, ...delta } = desired
    yield* Effect.tryPromise({
      try: () => jsm.streams.update(name, delta),
      catch: toBrokerError(`cannot update stream ${settings.name} (${changed.join(", ")})`)
    })
    return { name: settings.name, action: "updated", changed }
  })

export interface DurableSettings {
  readonly durable: string
  readonly filterSubject: string
  readonly ackWait: Duration.Duration
  readonly maxAckPending: number
  readonly deliver: "all" | "new"
}

export const consumerConfig = (settings: DurableSettings): Partial<ConsumerConfig> & { durable_name: string } => ({
  durable_name: settings.durable,
  ack_policy: AckPolicy.Explicit,
  deliver_policy: settings.deliver === "all" ? DeliverPolicy.All : DeliverPolicy.New,
  filter_subject: settings.filterSubject,
  ack_wait: nanos(Duration.toMillis(settings.ackWait)),
  // retries are the application's (nak with a delay, then a dead letter and term): the server never gives up on
  // a message by itself, which would let the key's next message overtake it
  max_deliver: -1,
  max_ack_pending: settings.maxAckPending
})

export const ensureConsumer = (
  jsm: JetStreamManager,
  stream: string,
  settings: DurableSettings
): Effect.Effect<Report, MessageBrokerError> =>
  Effect.gen(function*() {
    const desired = consumerConfig(settings)
    const live = yield* Effect.tryPromise({
      try: () =>
        jsm.consumers.info(stream, settings.durable).then((info) => info.config, (e) => {
          if (isNotFound(e, JetStreamApiCodes.ConsumerNotFound)) return undefined
          throw e
        }),
      catch: toBrokerError(`cannot read consumer ${settings.durable}`)
    })
    if (live === undefined) {
      yield* Effect.tryPromise({
        try: () => jsm.consumers.add(stream, desired),
        catch: toBrokerError(`cannot create consumer ${settings.durable}`)
      })
      return { name: settings.durable, action: "created", changed: [] }
    }
    // the deliver policy is where a new consumer starts: it does not apply to an existing one
    const { deliver_policy: _, durable_name, ...comparable } = desired
    const changed = differing(comparable, live as unknown as Record<string, unknown>)
    if (changed.length === 0) return { name: settings.durable, action: "unchanged", changed }
    // `update` merges the delta into the live configuration (`add` would reset every field left out)
    yield* Effect.tryPromise({
      try: () => jsm.consumers.update(stream, durable_name, comparable),
      catch: toBrokerError(`cannot update consumer ${settings.durable} (${changed.join(", ")})`)
    })
    return { name: settings.durable, action: "updated", changed }
  })
