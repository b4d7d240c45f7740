/**
 * The in-memory broker: one log, durable consumers with the JetStream-like settlement rules
 * (ack, nak with delay, term, redelivery after ackWait), per-key order, and the faults of
 * `MemoryBroker.Faults` drawn from a seeded `Random`.
 */
import { Clock, Deferred, Duration, Effect, Exit, FiberId, Random, Stream } from "effect"
import { publishBatch } from "../../../ports/internal/publishing.js"
import { invalidConsumer, matches } from "../../../ports/internal/subjects.js"
import {
  type ConsumerOptions,
  type IncomingMessage,
  MessageBrokerError,
  type OutgoingMessage,
  type PublishAck
} from "../../../ports/MessageBroker.js"

export interface Faults {
  readonly duplicateDelivery: number
  readonly lostAck: number
  readonly reorder: boolean
}

export interface Options {
  readonly seed?: number
  readonly faults?: Partial<Faults>
  readonly duplicateWindow?: Duration.DurationInput
}

export interface StoredMessage extends OutgoingMessage {
  readonly sequence: number
  readonly publishedAt: number
}

interface Unsettled {
  deliveries: number
  /** When it is (re)delivered: now for a new nak without delay, `deliveredAt + ackWait` when in flight. */
  due: number
  inFlight: boolean
}

interface Consumer {
  options: Required<Omit<ConsumerOptions, "deliver">>
  ackWaitMillis: number
  /** Index in the log of the first message never delivered, ... */
  next: number
  /** ... and the later ones delivered out of order (another key went first). */
  deliveredAhead: Set<number>
  unsettled: Map<number, Unsettled>
  /** Deliveries to repeat at once (the duplicate delivery fault), whatever happens to the first. */
  duplicates: Array<number>
}

/** How many messages one delivery attempt looks at, at most (past a long run of blocked keys). */
const SCAN_LIMIT = 10_000

const unavailable = (detail: string) => new MessageBrokerError({ reason: "Unavailable", detail })

export const make = (options: Options = {}) =>
  Effect.sync(() => {
    const random = Random.make(options.seed ?? 0)
    const windowMillis = Duration.toMillis(options.duplicateWindow ?? Duration.minutes(2))
    let faults: Faults = { duplicateDelivery: 0, lostAck: 0, reorder: false, ...options.faults }
    let available = true
    const log: Array<StoredMessage> = []
    const ids = new Map<string, { readonly sequence: number; readonly at: number }>()
    const consumers = new Map<string, Consumer>()
    let changed = Deferred.unsafeMake<void>(FiberId.none)
    const signal = () => {
      Deferred.unsafeDone(changed, Exit.void)
      changed = Deferred.unsafeMake<void>(FiberId.none)
    }

    const publishOne = (message: OutgoingMessage) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Effect.suspend((): Effect.Effect<PublishAck, MessageBrokerError> => {
          if (!available) {
            return Effect.fail(unavailable("the broker is unavailable"))
          }
          const known = ids.get(message.id)
          if (known !== undefined && now - known.at < windowMillis) {
            return Effect.succeed({ id: message.id, sequence: known.sequence, duplicate: true })
          }
          const sequence = log.length + 1
          log.push({ ...message, headers: { ...message.headers }, sequence, publishedAt: now })
          ids.set(message.id, { sequence, at: now })
          signal()
          return Effect.succeed({ id: message.id, sequence, duplicate: false })
        }))

    const consumerFor = (options: ConsumerOptions): Consumer => {
      const settings = {
        name: options.name,
        subjects: options.subjects,
        ordering: options.ordering ?? "per-key",
        ackWait: options.ackWait ?? Duration.seconds(30),
        maxInFlight: options.maxInFlight ?? 1000
      }
      const existing = consumers.get(options.name)
      if (existing !== undefined) {
        existing.options = settings
        existing.ackWaitMillis = Duration.toMillis(settings.ackWait)
        return existing
      }
      const created: Consumer = {
        options: settings,
        ackWaitMillis: Duration.toMillis(settings.ackWait),
        next: options.deliver === "new" ? log.length : 0,
        deliveredAhead: new Set(),
        unsettled: new Map(),
        duplicates: []
      }
      consumers.set(options.name, created)
      return created
    }

    const selected = (consumer: Consumer, message: StoredMessage) =>
      consumer.options.subjects.some((pattern) =>
        matches(pattern, message.subject)
      )

    /** The messages that may be delivered now, lowest sequence first (at most `limit`). */
    const candidates = (consumer: Consumer, now: number, limit: number): Array<number> => {
      while (
        consumer.next < log.length &&
        (consumer.deliveredAhead.delete(consumer.next) || !selected(consumer, log[consumer.next]!))
      ) consumer.next++
      const perKey = consumer.options.ordering === "per-key"
      const seen = new Set<string>() // keys whose earliest unsettled message was met already
      const inFlight = [...consumer.unsettled.values()].filter((u) => u.inFlight && u.due > now).length
      if (!perKey && inFlight >= consumer.options.maxInFlight) return []
      const result: Array<number> = []
      const unsettled = [...consumer.unsettled.keys()].sort((a, b) => a - b)
      // the unsettled messages and the undelivered ones, merged in sequence order
      let u = 0
      let index = consumer.next
      let examined = 0
      while (result.length < limit && examined++ < SCAN_LIMIT) {
        const nextUnsettled = u < unsettled.length ? unsettled[u]! : Infinity
        while (index < log.length && (consumer.deliveredAhead.has(index) || !selected(consumer, log[index]!))) index++
        const nextNew = index < log.length ? index + 1 : Infinity
        if (nextUnsettled === Infinity && nextNew === Infinity) break
        const sequence = Math.min(nextUnsettled, nextNew)
        if (sequence === nextUnsettled) u++
        else index++
        const key = log[sequence - 1]!.partitionKey
        if (perKey && seen.has(key)) continue
        seen.add(key)
        const state = consumer.unsettled.get(sequence)
        const ready = state === undefined || state.due <= now
        if (ready) result.push(sequence)
      }
      return result
    }

    const deliver = (consumer: Consumer, sequence: number, now: number) => {
      const state = consumer.unsettled.get(sequence)
      if (state === undefined) {
        consumer.unsettled.set(sequence, { deliveries: 1, due: now + consumer.ackWaitMillis, inFlight: true })
        const index = sequence - 1
        if (index === consumer.next) consumer.next++
        else consumer.deliveredAhead.add(index)
      } else {
        state.deliveries++
        state.due = now + consumer.ackWaitMillis
        state.inFlight = true
      }
      return consumer.unsettled.get(sequence)!.deliveries
    }

    const settle = (
      consumer: Consumer,
      sequence: number,
      action: (state: Unsettled, now: number) => "remove" | "keep"
    ) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Effect.suspend(() => {
          if (!available) return Effect.fail(unavailable("the broker is unavailable: not settled"))
          const state = consumer.unsettled.get(sequence)
          if (state !== undefined && action(state, now) === "remove") consumer.unsettled.delete(sequence)
          signal()
          return Effect.void
        }))

    const incoming = (consumer: Consumer, sequence: number, deliveryCount: number): IncomingMessage => {
      const message = log[sequence - 1]!
      return {
        id: message.id,
        subject: message.subject,
        partitionKey: message.partitionKey,
        headers: message.headers,
        payload: message.payload,
        deliveryCount,
        sequence,
        ack: Effect.flatMap(
          random.next,
          (draw) => settle(consumer, sequence, () => (draw < faults.lostAck ? "keep" : "remove"))
        ),
        nak: (delay) =>
          settle(consumer, sequence, (state, now) => {
            state.due = now + (delay === undefined ? 0 : Duration.toMillis(delay))
            state.inFlight = false
            return "keep"
          }),
        term: settle(consumer, sequence, () => "remove"),
        inProgress: settle(consumer, sequence, (state, now) => {
          if (state.inFlight) state.due = now + consumer.ackWaitMillis
          return "keep"
        })
      }
    }

    type Step =
      | { readonly _tag: "Delivered"; readonly message: IncomingMessage }
      | { readonly _tag: "Wait"; readonly signal: Deferred.Deferred<void>; readonly millis: number | undefined }

    /** One atomic attempt: deliver a ready message, or say what to wait for. */
    const step = (consumer: Consumer, now: number, pick: number, duplicate: boolean): Step => {
      if (available) {
        const repeated = consumer.duplicates.shift()
        if (repeated !== undefined) {
          const state = consumer.unsettled.get(repeated)
          const count = state === undefined ? 2 : ++state.deliveries
          return { _tag: "Delivered", message: incoming(consumer, repeated, count) }
        }
        const ready = candidates(consumer, now, faults.reorder ? 16 : 1)
        if (ready.length > 0) {
          const sequence = ready[Math.floor(pick * ready.length)]!
          const count = deliver(consumer, sequence, now)
          if (duplicate) consumer.duplicates.push(sequence)
          signal()
          return { _tag: "Delivered", message: incoming(consumer, sequence, count) }
        }
      }
      let until = Infinity
      if (available) { for (const u of consumer.unsettled.values()) if (u.due > now && u.due < until) until = u.due }
      return { _tag: "Wait", signal: changed, millis: until === Infinity ? undefined : until - now }
    }

    /** The next message for a consumer, waiting (for a publish, a settlement, a due time) until there is one. */
    const take = (consumer: Consumer): Effect.Effect<IncomingMessage> =>
      Effect.gen(function*() {
        while (true) {
          const pick = yield* random.next
          const duplicate = (yield* random.next) < faults.duplicateDelivery
          const now = yield* Clock.currentTimeMillis
          const next = step(consumer, now, pick, duplicate)
          if (next._tag === "Delivered") return next.message
          yield* next.millis === undefined
            ? Deferred.await(next.signal)
            : Effect.raceFirst(Deferred.await(next.signal), Effect.sleep(Duration.millis(next.millis)))
        }
      })

    const consume = (options: ConsumerOptions): Stream.Stream<IncomingMessage, MessageBrokerError> =>
      Stream.unwrap(Effect.suspend(() => {
        const invalid = invalidConsumer(options)
        if (invalid !== undefined) return Effect.fail(new MessageBrokerError({ reason: "Rejected", detail: invalid }))
        const consumer = consumerFor(options)
        return Effect.succeed(Stream.repeatEffect(take(consumer)))
      }))

    const lag = (name: string) =>
      Effect.suspend(() => {
        const consumer = consumers.get(name)
        if (consumer === undefined) {
          return Effect.fail(new MessageBrokerError({ reason: "Rejected", detail: `no consumer named ${name}` }))
        }
        let undelivered = 0
        for (let i = consumer.next; i < log.length; i++) {
          if (!consumer.deliveredAhead.has(i) && selected(consumer, log[i]!)) undelivered++
        }
        return Effect.succeed(undelivered + consumer.unsettled.size)
      })

    return {
      publish: (messages: ReadonlyArray<OutgoingMessage>) => publishBatch(messages, publishOne, 64),
      consume,
      lag,
      setAvailable: (value: boolean) =>
        Effect.sync(() => {
          available = value
          signal()
        }),
      setFaults: (value: Partial<Faults>) =>
        Effect.sync(() => {
          faults = { ...faults, ...value }
          signal()
        }),
      messages: Effect.sync((): ReadonlyArray<StoredMessage> => [...log])
    }
  })
