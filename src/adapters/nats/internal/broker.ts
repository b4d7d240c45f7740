/**
 * The NATS JetStream broker: options resolved to settings, publishing, consuming (one durable per
 * partition in `per-key` mode), lag.
 */
import { JetStreamApiCodes } from "@nats-io/jetstream"
import { headers as natsHeaders, type NodeConnectionOptions } from "@nats-io/transport-node"
import { Duration, Effect, Mailbox, type Scope, Stream } from "effect"
import { publishBatchAsync } from "../../../ports/internal/publishing.js"
import { invalidConsumer } from "../../../ports/internal/subjects.js"
import {
  type ConsumerOptions,
  type IncomingMessage,
  MessageBrokerError,
  type OutgoingMessage,
  type PublishAck
} from "../../../ports/MessageBroker.js"
import type { Options } from "../NatsBroker.js"
import * as Connection from "./connection.js"
import { durableLoop } from "./consume.js"
import { isNotFound, toBrokerError } from "./errors.js"
import { type DurableSettings, ensureConsumer, ensureStream, type Report, type StreamSettings } from "./provision.js"
import { filterSubject, selects, wireSubject } from "./wire.js"

const TOKEN = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/

export const streamSettings = (options: Options): StreamSettings => {
  const stream = options.stream ?? {}
  const settings: StreamSettings = {
    name: stream.name ?? "INTEGRATION",
    subjectPrefix: stream.subjectPrefix ?? "integration",
    partitions: stream.partitions ?? 8,
    replicas: stream.replicas ?? 1,
    storage: stream.storage ?? "file",
    maxAge: Duration.decode(stream.maxAge ?? Duration.days(7)),
    duplicateWindow: Duration.decode(stream.duplicateWindow ?? Duration.minutes(10)),
    maxBytes: stream.maxBytes ?? -1
  }
  if (!/^[A-Za-z0-9_-]+$/.test(settings.name)) {
    throw new Error(`NatsBroker: stream name "${settings.name}": letters, digits, - and _`)
  }
  if (!TOKEN.test(settings.subjectPrefix)) {
    throw new Error(`NatsBroker: subject prefix "${settings.subjectPrefix}" is not a subject`)
  }
  if (!(Number.isSafeInteger(settings.partitions) && settings.partitions >= 1)) {
    throw new Error(`NatsBroker: partitions must be a positive integer`)
  }
  if (Duration.greaterThan(settings.duplicateWindow, settings.maxAge)) {
    throw new Error(`NatsBroker: the duplicate window must not be longer than the max age`)
  }
  return settings
}

const connectionOptions = (options: Options): NodeConnectionOptions => {
  const { other, ...known } = options.connection ?? {}
  return {
    name: "effect-ddd",
    // nats.js otherwise builds two errors per request (an acknowledgement included) only for the
    // stack of a timeout that rarely comes: a fifth of the client's CPU per message consumed
    noAsyncTraces: true,
    ...other,
    ...known,
    servers: [...[options.servers].flat()]
  } as NodeConnectionOptions
}

export const make = (options: Options) =>
  Effect.gen(function*() {
    const stream = yield* Effect.try({
      try: () => streamSettings(options),
      catch: (error) => new MessageBrokerError({ reason: "Rejected", detail: (error as Error).message })
    })
    const requestTimeout = Duration.decode(options.requestTimeout ?? Duration.seconds(5))
    const reconnectWait = Duration.decode(options.reconnectWait ?? Duration.millis(500))
    const link = yield* Connection.make(
      {
        options: connectionOptions(options),
        requestTimeout,
        reconnectWait
      },
      (handles) => ensureStream(handles.jsm, stream)
    )
    if ((options.startup ?? "wait") === "wait") yield* link.await

    const send = (js: Connection.Handles["js"]) => async (message: OutgoingMessage): Promise<PublishAck> => {
      const headers = natsHeaders() // a fresh one per message: publish() adds Nats-Msg-Id to it
      for (const [name, value] of Object.entries(message.headers)) headers.set(name, value)
      const ack = await js.publish(
        wireSubject(stream.subjectPrefix, stream.partitions, message.subject, message.partitionKey),
        message.payload,
        { msgID: message.id, headers, timeout: Duration.toMillis(requestTimeout) }
      )
      return { id: message.id, sequence: ack.seq, duplicate: ack.duplicate }
    }

    const publish = (messages: ReadonlyArray<OutgoingMessage>) =>
      Effect.flatMap(link.current, ({ js }) =>
        publishBatchAsync(
          messages,
          send(js),
          (message, cause) => toBrokerError(`cannot publish message ${message.id}`)(cause)
        ))

    const durables = (options: ConsumerOptions): ReadonlyArray<DurableSettings> => {
      const common = {
        ackWait: Duration.decode(options.ackWait ?? Duration.seconds(30)),
        deliver: options.deliver ?? "all"
      } as const
      return (options.ordering ?? "per-key") === "per-key"
        ? Array.from({ length: stream.partitions }, (_, p) => ({
          ...common,
          durable: `${options.name}-p${p}`,
          filterSubject: filterSubject(stream.subjectPrefix, String(p), options.subjects),
          maxAckPending: 1
        }))
        : [{
          ...common,
          durable: options.name,
          filterSubject: filterSubject(stream.subjectPrefix, "*", options.subjects),
          maxAckPending: options.maxInFlight ?? 1000
        }]
    }

    const invalid = (options: ConsumerOptions) => {
      const reason = invalidConsumer(options)
      return reason === undefined
        ? Effect.void
        : Effect.fail(new MessageBrokerError({ reason: "Rejected", detail: reason }))
    }

    const ensureConsumers = (options: ConsumerOptions): Effect.Effect<ReadonlyArray<Report>, MessageBrokerError> =>
      Effect.zipRight(
        invalid(options),
        Effect.flatMap(link.await, ({ jsm }) =>
          Effect.forEach(durables(options), (durable) =>
            ensureConsumer(jsm, stream.name, durable), { concurrency: 8 }))
      )

    // one loop per durable, all feeding one mailbox (bounded by the durables' max_ack_pending: the
    // server sends no more until messages are settled); the first failure that is not retried
    // (Rejected) ends the stream with it
    const consume = (options: ConsumerOptions): Stream.Stream<IncomingMessage, MessageBrokerError> =>
      Stream.unwrapScoped(Effect.gen(function*() {
        yield* invalid(options)
        const mailbox = yield* Effect.acquireRelease(
          Mailbox.make<IncomingMessage, MessageBrokerError>(),
          (mailbox) =>
            mailbox.shutdown
        )
        yield* Effect.forEach(durables(options), (durable) =>
          durableLoop(link, {
            stream: stream.name,
            durable: durable.durable,
            prefix: stream.subjectPrefix,
            ensure: ({ jsm }) => ensureConsumer(jsm, stream.name, durable),
            selects: (subject) => selects(options.subjects, subject),
            batch: durable.maxAckPending === 1 ? 16 : Math.min(256, durable.maxAckPending),
            ackTimeout: requestTimeout,
            reconnectWait
          }, (message) => void mailbox.unsafeOffer(message)).pipe(
            Effect.catchAll((error) => mailbox.fail(error)),
            Effect.forkScoped
          ), { discard: true })
        return Mailbox.toStream(mailbox)
      }))

    const pendingOf = (name: string) =>
      Effect.flatMap(link.current, ({ jsm }) =>
        Effect.tryPromise({
          try: () =>
            jsm.consumers.info(stream.name, name).then(
              (info) => info.num_pending + info.num_ack_pending,
              (e) => {
                if (isNotFound(e, JetStreamApiCodes.ConsumerNotFound)) return undefined
                throw e
              }
            ),
          catch: toBrokerError(`cannot read consumer ${name}`)
        }))

    const lag = (name: string) =>
      Effect.gen(function*() {
        const unordered = yield* pendingOf(name)
        if (unordered !== undefined) return unordered
        const partitions = yield* Effect.forEach(
          Array.from({ length: stream.partitions }, (_, p) => `${name}-p${p}`),
          pendingOf,
          { concurrency: 8 }
        )
        if (partitions.every((p) => p === undefined)) {
          return yield* Effect.fail(new MessageBrokerError({ reason: "Rejected", detail: `no consumer named ${name}` }))
        }
        return partitions.reduce((sum: number, p) => sum + (p ?? 0), 0)
      })

    return {
      publish,
      consume,
      lag,
      ensureConsumers,
      provisioned: Effect.map(link.await, (handles) => handles.provisioned),
      status: link.status
    }
  }) satisfies Effect.Effect<unknown, MessageBrokerError, Scope.Scope>
