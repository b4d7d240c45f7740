import { expect, layer } from "@effect/vitest"
import { jetstreamManager } from "@nats-io/jetstream"
import { connect, nanos } from "@nats-io/transport-node"
import { Deferred, Effect, Layer, Ref, Schedule, Stream } from "effect"
import { NatsBroker } from "effect-ddd/nats"
import { randomBytes } from "node:crypto"
import { Outage, suite } from "../contracts/BrokerContract.js"
import { natsServer, NatsServerService } from "../support/nats.js"

const broker = Layer.unwrapEffect(Effect.map(NatsServerService, (server) =>
  NatsBroker.layer({
    servers: server.url,
    stream: { partitions: 4 },
    requestTimeout: "2 seconds",
    reconnectWait: "100 millis"
  })))

const outage = Layer.effect(
  Outage,
  Effect.map(NatsServerService, (server) => ({
    start: Effect.promise(server.stop),
    end: Effect.promise(server.start)
  }))
)

suite("NATS JetStream", Layer.mergeAll(broker, outage).pipe(Layer.provideMerge(natsServer)), { ackWait: "1 second" })

const raw = (url: string) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const nc = await connect({ servers: url })
      return { nc, jsm: await jetstreamManager(nc) }
    }),
    ({ nc }) => Effect.promise(() => nc.close())
  )

const fresh = () => randomBytes(4).toString("hex")

layer(natsServer, { timeout: 180_000, excludeTestServices: true })("NatsBroker on a server of its own", (it) => {
  it.scoped("provisions the stream and the durables idempotently, updating only what differs", () =>
    Effect.gen(function*() {
      const server = yield* NatsServerService
      const { jsm } = yield* raw(server.url)
      const id = fresh()
      const options = {
        servers: server.url,
        stream: { name: `S${id}`, subjectPrefix: `p${id}`, partitions: 3, maxAge: "1 day", duplicateWindow: "1 minute" }
      } as const
      const provisioned = (o: NatsBroker.Options) =>
        Effect.scoped(Effect.flatMap(NatsBroker.make(o), (b) => b.provisioned))

      expect(yield* provisioned(options)).toEqual({ name: `S${id}`, action: "created", changed: [] })
      const created = (yield* Effect.promise(() => jsm.streams.info(`S${id}`))).created
      expect(yield* provisioned(options)).toEqual({ name: `S${id}`, action: "unchanged", changed: [] })
      expect((yield* Effect.promise(() => jsm.streams.info(`S${id}`))).created).toBe(created)

      const longer = { ...options, stream: { ...options.stream, maxAge: "2 days" as const } }
      expect(yield* provisioned(longer)).toEqual({ name: `S${id}`, action: "updated", changed: ["max_age"] })
      const live = (yield* Effect.promise(() => jsm.streams.info(`S${id}`))).config
      expect([live.max_age, live.duplicate_window, live.subjects, live.storage]).toEqual([
        nanos(2 * 86_400_000),
        nanos(60_000),
        [`p${id}.>`],
        "file"
      ])

      // the partition count cannot change under a stream; a window longer than the max age is refused
      const repartitioned = yield* Effect.flip(provisioned({ ...longer, stream: { ...longer.stream, partitions: 4 } }))
      expect([repartitioned.reason, repartitioned.detail]).toEqual([
        "Rejected",
        expect.stringContaining("3 partitions")
      ])
      const window = yield* Effect.flip(
        provisioned({ ...longer, stream: { ...longer.stream, duplicateWindow: "3 days" } })
      )
      expect([window.reason, window.detail]).toEqual(["Rejected", expect.stringContaining("duplicate window")])

      // durables: one per partition, created, then left alone, then updated by a delta
      const broker = yield* NatsBroker.make(longer)
      const consumer = { name: `c${id}`, subjects: ["orders.>"], ackWait: "10 seconds" } as const
      const actions = (reports: ReadonlyArray<NatsBroker.ProvisionReport>) => reports.map((r) => [r.name, r.action])
      expect(actions(yield* broker.ensureConsumers(consumer))).toEqual(
        [0, 1, 2].map((p) => [`c${id}-p${p}`, "created"])
      )
      expect(actions(yield* broker.ensureConsumers(consumer))).toEqual(
        [0, 1, 2].map((p) => [`c${id}-p${p}`, "unchanged"])
      )
      const updated = yield* broker.ensureConsumers({ ...consumer, ackWait: "20 seconds" })
      expect(updated.map((r) => [r.action, r.changed])).toEqual([0, 1, 2].map(() => ["updated", ["ack_wait"]]))
      const durable = (yield* Effect.promise(() => jsm.consumers.info(`S${id}`, `c${id}-p1`))).config
      expect([durable.ack_wait, durable.max_ack_pending, durable.filter_subject, durable.max_deliver]).toEqual([
        nanos(20_000),
        1,
        `p${id}.1.orders.>`,
        -1
      ])
    }))

  it.scoped("a server killed and restarted mid-stream: every message is processed, each key in order", () =>
    Effect.gen(function*() {
      const server = yield* NatsServerService
      const broker = yield* NatsBroker.make({
        servers: server.url,
        stream: { name: "RESTART", subjectPrefix: "restart", partitions: 4 },
        requestTimeout: "1 second",
        reconnectWait: "100 millis"
      })
      const acked = yield* Ref.make<ReadonlyArray<string>>([])
      const tenAcked = yield* Deferred.make<void>()
      const allAcked = yield* Deferred.make<void>()
      const keys = ["k0", "k1", "k2", "k3"]
      const messages = Array.from({ length: 40 }, (_, i) => {
        const key = keys[i % 4]!
        const n = Math.floor(i / 4) + 1
        return {
          id: `restart-${key}-${n}`,
          subject: "orders.v1",
          partitionKey: key,
          headers: {},
          payload: new TextEncoder().encode(`${key}:${n}`)
        }
      })
      yield* broker.consume({ name: "restart", subjects: ["orders.>"], ackWait: "1 second" }).pipe(
        Stream.mapEffect((m) =>
          m.ack.pipe(
            Effect.zipRight(Ref.updateAndGet(acked, (a) => [...a, new TextDecoder().decode(m.payload)])),
            Effect.tap((a) => Deferred.succeed(tenAcked, void 0).pipe(Effect.when(() => a.length >= 10))),
            Effect.tap((a) => Deferred.succeed(allAcked, void 0).pipe(Effect.when(() => new Set(a).size === 40))),
            // an acknowledgement lost with the server: the message comes back
            Effect.catchAll(() => Effect.void)
          ), { concurrency: 8 }),
        Stream.runDrain,
        Effect.forkScoped
      )
      const publish = (batch: typeof messages) =>
        broker.publish(batch).pipe(Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 200 }))
      yield* publish(messages.slice(0, 20))
      yield* Deferred.await(tenAcked)
      yield* Effect.promise(server.kill)
      yield* Effect.promise(server.start)
      yield* publish(messages.slice(0, 40)) // the first half again: duplicates for the broker
      yield* Deferred.await(allAcked).pipe(
        Effect.timeoutFail({ duration: "60 seconds", onTimeout: () => new Error("not all acked") })
      )
      const log = yield* Ref.get(acked)
      for (const key of keys) {
        const firsts = [...new Set(log.filter((e) => e.startsWith(`${key}:`)))]
        expect(firsts).toEqual(Array.from({ length: 10 }, (_, i) => `${key}:${i + 1}`))
      }
    }))

  it.scoped("starts in the background while the server is down: Unavailable until it is up", () =>
    Effect.gen(function*() {
      const server = yield* NatsServerService
      yield* Effect.promise(server.stop)
      const broker = yield* NatsBroker.make({
        servers: server.url,
        startup: "background",
        stream: { name: "LATE", subjectPrefix: "late" },
        reconnectWait: "100 millis"
      })
      expect(yield* broker.status).toBe("connecting")
      const message = { id: "late-1", subject: "x.v1", partitionKey: "k", headers: {}, payload: new Uint8Array() }
      const error = yield* Effect.flip(broker.publish([message]))
      expect([error.reason, error.detail]).toEqual(["Unavailable", expect.stringContaining("not connected")])
      yield* Effect.promise(server.start)
      const [ack] = yield* broker.publish([message]).pipe(
        Effect.retry({ while: (e) => e.reason === "Unavailable", schedule: Schedule.spaced("100 millis"), times: 200 })
      )
      expect([ack!.duplicate, yield* broker.status]).toEqual([false, "connected"])
      expect(yield* broker.provisioned).toMatchObject({ name: "LATE", action: "created" })
    }))
})
