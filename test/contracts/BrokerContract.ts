/**
 * Behaviour every MessageBroker adapter must have:
 * `suite("NATS", layer)` where the layer provides the broker and an `Outage` that makes it
 * unreachable and brings it back.
 *
 * Tests share one broker per suite, so each uses fresh subjects and consumer names. Verdicts come
 * from what was delivered and settled (logs, Deferreds), never from how long anything took; the
 * one wait for a redelivery is bounded by `ackWait`, which the suite sets short.
 */
import { describe, expect, layer } from "@effect/vitest"
import type { Layer } from "effect"
import { Chunk, Context, Deferred, Duration, Effect, Ref, Schedule, Stream } from "effect"
import { MessageBroker } from "effect-ddd"
import { randomBytes } from "node:crypto"

/** Makes the broker unreachable (`start`) and reachable again (`end`). */
export class Outage extends Context.Tag("test/BrokerOutage")<Outage, {
  readonly start: Effect.Effect<void>
  readonly end: Effect.Effect<void>
}>() {}

const fresh = () => `t${randomBytes(5).toString("hex")}`
const encoder = new TextEncoder()
const decoder = new TextDecoder()

const message = (prefix: string, key: string, n: number, subject = `${prefix}.thing.v1`) => ({
  id: `${prefix}-${key}-${n}`,
  subject,
  partitionKey: key,
  headers: { "x-n": String(n), "content-type": "application/json" },
  payload: encoder.encode(JSON.stringify({ key, n }))
})

const bodyOf = (m: MessageBroker.IncomingMessage) => JSON.parse(decoder.decode(m.payload)) as { key: string; n: number }
const labelOf = (m: MessageBroker.IncomingMessage) => {
  const { key, n } = bodyOf(m)
  return `${key}${n}#${m.deliveryCount}`
}

/** A log of what happened, and a way to wait until it satisfies a predicate. */
const makeLog = Effect.gen(function*() {
  const entries = yield* Ref.make<ReadonlyArray<string>>([])
  const waiters = yield* Ref.make<
    ReadonlyArray<readonly [(log: ReadonlyArray<string>) => boolean, Deferred.Deferred<void>]>
  >(
    []
  )
  const add = (entry: string) =>
    Effect.gen(function*() {
      const log = yield* Ref.updateAndGet(entries, (l) => [...l, entry])
      for (const [predicate, done] of yield* Ref.get(waiters)) if (predicate(log)) yield* Deferred.succeed(done, void 0)
    })
  const until = (predicate: (log: ReadonlyArray<string>) => boolean, what: string) =>
    Effect.gen(function*() {
      const done = yield* Deferred.make<void>()
      yield* Ref.update(waiters, (w) => [...w, [predicate, done] as const])
      if (predicate(yield* Ref.get(entries))) yield* Deferred.succeed(done, void 0)
      yield* Deferred.await(done).pipe(
        Effect.timeoutFail({
          duration: "30 seconds",
          onTimeout: () => new Error(`never happened: ${what}`)
        }),
        Effect.orDie
      )
      return yield* Ref.get(entries)
    })
  return { add, until, get: Ref.get(entries) }
})

/** Runs `handle` for every delivered message in a background fiber (interrupted with the test's scope). */
const consumeIn = (
  options: MessageBroker.ConsumerOptions,
  handle: (m: MessageBroker.IncomingMessage) => Effect.Effect<void, MessageBroker.MessageBrokerError>,
  concurrency = 1
) =>
  Effect.flatMap(MessageBroker.MessageBroker, (broker) =>
    broker.consume(options).pipe(
      Stream.mapEffect(handle, { concurrency }),
      Stream.runDrain,
      Effect.orDie,
      Effect.forkScoped
    ))

export const suite = <E>(
  name: string,
  broker: Layer.Layer<MessageBroker.MessageBroker | Outage, E>,
  settings: { readonly ackWait: Duration.DurationInput }
) =>
  layer(broker, { timeout: 180_000, excludeTestServices: true })(`MessageBroker contract: ${name}`, (it) => {
    const ackWait = settings.ackWait

    describe("publishing", () => {
      it.scoped("publishes a batch and returns the acknowledgements in order; a consumer reads it back", () =>
        Effect.gen(function*() {
          const broker = yield* MessageBroker.MessageBroker
          const t = fresh()
          const batch = [message(t, "a", 1), message(t, "b", 1), message(t, "a", 2)]
          const acks = yield* broker.publish(batch)
          expect(acks.map((a) => [a.id, a.duplicate])).toEqual(batch.map((m) => [m.id, false]))
          expect(new Set(acks.map((a) => a.sequence)).size).toBe(3)
          expect(acks[0]!.sequence).toBeLessThan(acks[2]!.sequence)

          const received = yield* broker.consume({
            name: `c-${t}`,
            subjects: [`${t}.>`],
            ordering: "unordered",
            ackWait
          })
            .pipe(Stream.take(3), Stream.runCollect, Effect.map(Chunk.toArray))
          expect(received.map((m) => m.id).sort()).toEqual(batch.map((m) => m.id).sort())
          for (const m of received) {
            const sent = batch.find((b) => b.id === m.id)!
            expect([m.subject, m.partitionKey, m.headers["x-n"], m.deliveryCount]).toEqual([
              sent.subject,
              sent.partitionKey,
              sent.headers["x-n"],
              1
            ])
            expect(decoder.decode(m.payload)).toBe(decoder.decode(sent.payload))
            expect(m.sequence).toBe(acks.find((a) => a.id === m.id)!.sequence)
          }
          // delivered, not settled: all three still count
          expect(yield* broker.lag(`c-${t}`)).toBe(3)
          yield* Effect.forEach(received, (m) => m.ack, { discard: true })
          expect(yield* broker.lag(`c-${t}`)).toBe(0)
        }))

      it.scoped("deduplicates by message id: a republished id is acknowledged as a duplicate, stored once", () =>
        Effect.gen(function*() {
          const broker = yield* MessageBroker.MessageBroker
          const t = fresh()
          const [first] = yield* broker.publish([message(t, "a", 1)])
          // the same id again (with another payload: the id alone counts), then a new message
          const again = yield* broker.publish([
            { ...message(t, "a", 1), payload: encoder.encode("{\"other\":true}") },
            message(t, "a", 2)
          ])
          expect(again.map((a) => [a.duplicate, a.sequence === first!.sequence])).toEqual([[true, true], [
            false,
            false
          ]])

          const log = yield* makeLog
          yield* consumeIn(
            { name: `c-${t}`, subjects: [`${t}.>`], ackWait },
            (m) => Effect.zipRight(log.add(labelOf(m)), m.ack)
          )
          // a2 was published after the duplicate: once it is here, the duplicate would have been too
          expect(yield* log.until((l) => l.includes("a2#1"), "a2 delivered")).toEqual(["a1#1", "a2#1"])
        }))

      it.effect("refuses invalid messages and consumers with a Rejected error, sending nothing", () =>
        Effect.gen(function*() {
          const broker = yield* MessageBroker.MessageBroker
          const t = fresh()
          const bad = yield* Effect.flip(broker.publish([message(t, "a", 1), message(t, "b", 1, `${t}.*`)]))
          expect([bad._tag, bad.reason, bad.acknowledged]).toEqual(["MessageBrokerError", "Rejected", []])
          const reserved = yield* Effect.flip(
            broker.publish([{ ...message(t, "a", 1), headers: { "Nats-Msg-Id": "x" } }])
          )
          expect(reserved.reason).toBe("Rejected")
          const consumer = yield* Effect.flip(
            Stream.runDrain(broker.consume({ name: "no.dots", subjects: [`${t}.>`] }))
          )
          expect(consumer.reason).toBe("Rejected")
          // nothing of the refused batch was stored: a consumer of the subject sees only what follows
          yield* broker.publish([message(t, "c", 1)])
          const [only] = yield* broker.consume({ name: `c-${t}`, subjects: [`${t}.>`], ackWait }).pipe(
            Stream.take(1),
            Stream.runCollect,
            Effect.scoped
          )
          expect(labelOf(only!)).toBe("c1#1")
        }))
    })

    describe("consuming", () => {
      it.scoped("a durable consumer resumes after a restart where it stopped", () =>
        Effect.gen(function*() {
          const broker = yield* MessageBroker.MessageBroker
          const t = fresh()
          yield* broker.publish([1, 2, 3, 4, 5, 6].map((n) => message(t, `k${n}`, n)))
          const options = {
            name: `c-${t}`,
            subjects: [`${t}.>`],
            ordering: "unordered",
            maxInFlight: 1,
            ackWait
          } as const
          const first = yield* broker.consume(options).pipe(
            Stream.mapEffect((m) => Effect.as(m.ack, bodyOf(m).n)),
            Stream.take(3),
            Stream.runCollect,
            Effect.scoped
          )
          expect(Chunk.toArray(first)).toEqual([1, 2, 3])
          // restarted: the rest, never what was acknowledged
          const rest = yield* broker.consume(options).pipe(
            Stream.mapEffect((m) => Effect.as(m.ack, bodyOf(m).n)),
            Stream.take(3),
            Stream.runCollect,
            Effect.scoped
          )
          expect(Chunk.toArray(rest).sort()).toEqual([4, 5, 6])
        }))

      it.scoped("ack settles, nak(delay) redelivers, term never redelivers", () =>
        Effect.gen(function*() {
          const broker = yield* MessageBroker.MessageBroker
          const t = fresh()
          const log = yield* makeLog
          yield* consumeIn(
            { name: `c-${t}`, subjects: [`${t}.>`], ordering: "unordered", ackWait },
            (m) =>
              Effect.gen(function*() {
                const label = labelOf(m)
                yield* log.add(label)
                if (label === "x1#1") return yield* m.nak(Duration.millis(200))
                if (label === "y1#1") return yield* m.term
                if (label === "z1#1") return // not settled: redelivered after ackWait
                yield* m.ack
              }),
            4
          )
          yield* broker.publish([message(t, "x", 1), message(t, "y", 1)])
          yield* log.until((l) => l.includes("x1#2") && l.includes("y1#1"), "x redelivered after the nak")
          // z is delivered after y was terminated; its redelivery (after ackWait) comes after the
          // moment y's would have come, had the term been ignored
          yield* broker.publish([message(t, "z", 1)])
          const log2 = yield* log.until((l) => l.includes("z1#2"), "z redelivered")
          expect(log2.filter((l) => l.startsWith("y"))).toEqual(["y1#1"])
          expect(log2.filter((l) => l.startsWith("x")).slice(0, 2)).toEqual(["x1#1", "x1#2"])
        }))

      it.scoped("a message not settled is delivered again: after ackWait, and when the consumer restarts", () =>
        Effect.gen(function*() {
          const broker = yield* MessageBroker.MessageBroker
          const t = fresh()
          yield* broker.publish([message(t, "a", 1)])
          const options = { name: `c-${t}`, subjects: [`${t}.>`], ackWait } as const
          const twice = yield* broker.consume(options).pipe(Stream.take(2), Stream.runCollect, Effect.scoped)
          expect(Chunk.toArray(twice).map(labelOf)).toEqual(["a1#1", "a1#2"])
          // the consumer stopped without settling the second delivery: a restarted one gets it again
          const [third] = yield* broker.consume(options).pipe(Stream.take(1), Stream.runCollect, Effect.scoped)
          // (#3, or later when the stopped consumer had already been handed #3 as it stopped)
          expect([third!.id, third!.deliveryCount >= 3]).toEqual([message(t, "a", 1).id, true])
          expect(decoder.decode(third!.payload)).toBe(decoder.decode(message(t, "a", 1).payload))
          yield* third!.ack
          expect(yield* broker.lag(options.name)).toBe(0)
        }))
    })

    describe("order", () => {
      it.scoped("per key, a message is never delivered before the earlier ones were settled, under nak and redelivery", () =>
        Effect.gen(function*() {
          const broker = yield* MessageBroker.MessageBroker
          const t = fresh()
          const log = yield* makeLog
          yield* consumeIn(
            { name: `c-${t}`, subjects: [`${t}.>`], ackWait },
            (m) =>
              Effect.gen(function*() {
                const label = labelOf(m)
                yield* log.add(`deliver ${label}`)
                if (label === "A1#1") return yield* m.nak(Duration.millis(100))
                if (label === "B2#1") return // not settled: redelivered after ackWait
                yield* Effect.sleep(Duration.millis(5)) // overlap with the other keys' handlers
                yield* log.add(`ack ${label.split("#")[0]}`)
                yield* m.ack
              }),
            8
          )
          // interleaved, as an outbox would publish them
          yield* broker.publish([1, 2, 3, 4].flatMap((n) => ["A", "B", "C"].map((key) => message(t, key, n))))
          const entries = yield* log.until((l) => new Set(l.filter((e) => e.startsWith("ack"))).size === 12, "12 acks")
          for (const key of ["A", "B", "C"]) {
            // (a message acknowledged after its ackWait on a slow machine is delivered and acknowledged again)
            const acks = [...new Set(entries.filter((e) => e.startsWith(`ack ${key}`)))]
            expect(acks).toEqual([1, 2, 3, 4].map((n) => `ack ${key}${n}`))
            for (let n = 2; n <= 4; n++) {
              // every delivery of n comes after n - 1 was acknowledged
              const firstDelivery = entries.findIndex((e) => e.startsWith(`deliver ${key}${n}#`))
              expect(firstDelivery, `${key}${n}`).toBeGreaterThan(entries.indexOf(`ack ${key}${n - 1}`))
            }
          }
          expect(entries).toContain("deliver A1#2")
          expect(entries).toContain("deliver B2#2")
        }))

      it.scoped("messages of different keys are delivered while one key waits", () =>
        Effect.gen(function*() {
          const broker = yield* MessageBroker.MessageBroker
          const t = fresh()
          const held = yield* Deferred.make<MessageBroker.IncomingMessage>()
          const other = yield* Deferred.make<string>()
          const keys = Array.from({ length: 16 }, (_, i) => `key-${i}`)
          yield* consumeIn(
            { name: `c-${t}`, subjects: [`${t}.>`], ackWait: "30 seconds" },
            (m) =>
              Effect.gen(function*() {
                // the first message delivered is held, unsettled, until another key's arrives
                if (yield* Deferred.succeed(held, m)) return
                const first = yield* Deferred.await(held)
                if (m.partitionKey !== first.partitionKey) yield* Deferred.succeed(other, m.partitionKey)
                yield* m.ack
              }),
            16
          )
          yield* broker.publish(keys.map((key) => message(t, key, 1)))
          const first = yield* Deferred.await(held)
          const otherKey = yield* Deferred.await(other).pipe(
            Effect.timeoutFail({
              duration: "20 seconds",
              onTimeout: () => new Error("every key waited for the held one")
            }),
            Effect.orDie
          )
          expect(otherKey).not.toBe(first.partitionKey)
          yield* first.ack
        }))
    })

    describe("availability", () => {
      it.scoped("an unavailable broker fails publishing with a typed error; consumers resume once it is back", () =>
        Effect.gen(function*() {
          const broker = yield* MessageBroker.MessageBroker
          const outage = yield* Outage
          const t = fresh()
          const log = yield* makeLog
          yield* consumeIn(
            { name: `c-${t}`, subjects: [`${t}.>`], ackWait },
            (m) => Effect.zipRight(log.add(labelOf(m)), m.ack)
          )
          yield* broker.publish([message(t, "a", 1)])
          yield* log.until((l) => l.includes("a1#1"), "a1 delivered")

          yield* outage.start
          const error = yield* Effect.flip(broker.publish([message(t, "a", 2)]))
          expect(error._tag).toBe("MessageBrokerError")
          expect(["Unavailable", "Timeout"]).toContain(error.reason)
          yield* outage.end

          // publishing again with the same id succeeds; the consumer started before the outage gets it
          const published = yield* broker.publish([message(t, "a", 2)]).pipe(
            Effect.retry({ while: (e) => e.reason !== "Rejected", schedule: Schedule.spaced("200 millis"), times: 100 })
          )
          expect(published.map((a) => a.id)).toEqual([message(t, "a", 2).id])
          expect(yield* log.until((l) => l.includes("a2#1"), "a2 delivered after the outage")).toEqual(["a1#1", "a2#1"])
        }))
    })
  })
