import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Fiber, Layer, Option, Stream } from "effect"
import { MemoryBroker } from "effect-ddd"
import { Outage, suite } from "../contracts/BrokerContract.js"

const outage = Layer.effect(
  Outage,
  Effect.map(MemoryBroker.MemoryBroker, (broker) => ({
    start: broker.setAvailable(false),
    end: broker.setAvailable(true)
  }))
)

suite("memory", Layer.provideMerge(outage, MemoryBroker.layer()), { ackWait: "1 second" })

const encoder = new TextEncoder()
const decoder = new TextDecoder()
const message = (key: string, n: number) => ({
  id: `${key}-${n}`,
  subject: "test.thing.v1",
  partitionKey: key,
  headers: {},
  payload: encoder.encode(`${key}${n}`)
})
const KEYS = ["A", "B", "C", "D", "E", "F"]
/** A1 B1 C1 ... A2 B2 ...: keys interleaved, as an outbox publishes them. */
const workload = [1, 2, 3, 4].flatMap((n) => KEYS.map((key) => message(key, n)))

/** Consumes `count` deliveries one at a time, acknowledging each; returns "A1#1"-style labels. */
const deliveries = (broker: MemoryBroker.Service, count: number) =>
  broker.consume({ name: "c", subjects: ["test.>"], ackWait: "200 millis" }).pipe(
    Stream.mapEffect((m) => Effect.as(m.ack, `${decoder.decode(m.payload)}#${m.deliveryCount}`)),
    Stream.take(count),
    Stream.runCollect,
    Effect.map(Chunk.toArray),
    Effect.scoped
  )

const run = (options: MemoryBroker.Options, count = workload.length) =>
  Effect.gen(function*() {
    const broker = yield* MemoryBroker.make(options)
    yield* broker.publish(workload)
    const stored = (yield* broker.messages).map((m) => `${decoder.decode(m.payload)}#1`)
    return { stored, delivered: yield* deliveries(broker, count) }
  })

const perKey = (labels: ReadonlyArray<string>, key: string) =>
  labels.filter((l) => l.startsWith(key) && l.endsWith("#1")).map((l) => l.slice(0, -2))

describe("MemoryBroker faults", () => {
  it.effect("without faults, messages come in publishing order", () =>
    Effect.gen(function*() {
      const { delivered, stored } = yield* run({})
      expect(delivered).toEqual(stored)
      expect(stored.length).toBe(workload.length)
    }))

  it.effect("reordering mixes keys but never one key's messages, and repeats exactly with the same seed", () =>
    Effect.gen(function*() {
      const { delivered: first, stored } = yield* run({ seed: 7, faults: { reorder: true } })
      expect(first).not.toEqual(stored)
      expect([...first].sort()).toEqual([...stored].sort())
      for (const key of KEYS) expect(perKey(first, key)).toEqual([1, 2, 3, 4].map((n) => `${key}${n}`))
      expect((yield* run({ seed: 7, faults: { reorder: true } })).delivered).toEqual(first)
      expect((yield* run({ seed: 8, faults: { reorder: true } })).delivered).not.toEqual(first)
    }))

  it.effect("duplicate delivery hands a message out twice in a row", () =>
    Effect.gen(function*() {
      const { delivered } = yield* run({ faults: { duplicateDelivery: 1 } }, 4)
      expect(delivered).toEqual(["A1#1", "A1#2", "A2#1", "A2#2"])
    }))

  it.live("a lost acknowledgement brings the message back after ackWait", () =>
    Effect.gen(function*() {
      const broker = yield* MemoryBroker.make({ faults: { lostAck: 1 } })
      yield* broker.publish([message("A", 1)])
      expect(yield* deliveries(broker, 2)).toEqual(["A1#1", "A1#2"])
      yield* broker.setFaults({ lostAck: 0 })
      expect(yield* deliveries(broker, 1)).toEqual(["A1#3"])
      expect(yield* broker.lag("c")).toBe(0)
    }))

  it.effect("while unavailable, publishing fails and a consumer waits; once restored it gets the message", () =>
    Effect.gen(function*() {
      const broker = yield* MemoryBroker.make()
      yield* broker.publish([message("A", 1)])
      yield* broker.setAvailable(false)
      const error = yield* Effect.flip(broker.publish([message("A", 2)]))
      expect([error._tag, error.reason]).toEqual(["MessageBrokerError", "Unavailable"])
      const consumer = yield* Effect.fork(deliveries(broker, 1))
      // once the consumer exists, it is parked on the broker, with the message there to take
      const lag = yield* Effect.zipRight(Effect.yieldNow(), broker.lag("c")).pipe(Effect.retry({ times: 100 }))
      expect(lag).toBe(1)
      expect(Option.isNone(yield* Fiber.poll(consumer))).toBe(true)
      yield* broker.setAvailable(true)
      expect(yield* Fiber.join(consumer)).toEqual(["A1#1"])
    }))
})
