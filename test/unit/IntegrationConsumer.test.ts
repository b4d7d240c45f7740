import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Either, Layer, Metric, MetricLabel, Option, Schedule, Stream } from "effect"
import {
  CloudEvent,
  CommandHandler,
  DeadLetters,
  EventStore,
  Health,
  IntegrationConsumer,
  IntegrationEvent,
  MemoryBroker,
  MemoryEventStore,
  MessageBroker,
  Telemetry
} from "effect-ddd"
import { CoursePublished, CoursePublishedV1, CoursePublishedV2 } from "../../examples/catalog-contracts.js"
import { Offering } from "../../examples/course-consumer.js"

const eventually = <A, E, R>(check: Effect.Effect<A, E, R>) =>
  Effect.retry(check, Schedule.spaced("10 millis").pipe(Schedule.upTo("30 seconds")))

const expectEffect = (f: () => void) => Effect.try({ try: f, catch: (error) => error })

let sequence = 0

/** A message of the course-published contract (v1 or v2), or a broken one. */
const message = (
  key: string,
  title: string,
  broken?: "data" | "version" | "not-a-cloudevent"
): MessageBroker.OutgoingMessage => {
  const id = `m-${++sequence}`
  if (broken === "not-a-cloudevent") {
    return { id, subject: "catalog.course-published.v1", partitionKey: key, headers: {}, payload: new Uint8Array([1]) }
  }
  const event = broken === "data" || broken === "version"
    ? {
      specversion: "1.0" as const,
      id,
      source: "/catalog",
      type: broken === "version" ? "catalog.course-published.v9" : "catalog.course-published.v1",
      datacontenttype: "application/json",
      data: { courseId: key }
    }
    : Either.getOrThrow(IntegrationEvent.encode(CoursePublishedV1, { courseId: key, title }, {
      id,
      source: "/catalog",
      partitionkey: key,
      traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    }))
  const binary = Either.getOrThrow(CloudEvent.toBinary(event))
  return { id, subject: event.type, partitionKey: key, ...binary }
}

const send = (...messages: ReadonlyArray<MessageBroker.OutgoingMessage>) =>
  Effect.flatMap(MessageBroker.MessageBroker, (broker) => broker.publish(messages))

/** What the handler did, outside the database: attempts per title, failures to inject, spans seen. */
const makeProbe = () => ({
  attempts: new Map<string, number>(),
  failTimes: new Map<string, number>(),
  /** Handling waits for it when set. */
  hold: undefined as Deferred.Deferred<void> | undefined,
  parents: [] as Array<string>
})

const consumerOf = (
  probe: ReturnType<typeof makeProbe>,
  retry: Schedule.Schedule<unknown, unknown> = Schedule.spaced("20 millis").pipe(Schedule.intersect(Schedule.recurs(2)))
) =>
  IntegrationConsumer.make({
    name: "offers",
    events: [CoursePublished],
    retry,
    ackWait: "300 millis",
    handle: (received) =>
      Effect.gen(function*() {
        const title = received.data.title
        const attempt = (probe.attempts.get(title) ?? 0) + 1
        probe.attempts.set(title, attempt)
        if (probe.hold !== undefined) yield* Deferred.await(probe.hold)
        const span = yield* Effect.currentSpan
        if (Option.isSome(span.parent) && span.parent.value._tag === "ExternalSpan") {
          probe.parents.push(`${span.parent.value.traceId}/${span.parent.value.spanId}`)
        }
        yield* CommandHandler.execute(Offering, received.data.courseId, "offer", {
          title,
          lessons: received.data.lessons
        })
        // fails after its writes: the transaction (inbox row included) rolls back
        if (attempt <= (probe.failTimes.get(title) ?? 0)) return yield* Effect.fail(`${title} failed`)
      })
  })

/** The broker (counting deliveries), a store, and the consumer's layer. */
const service = (
  probe: ReturnType<typeof makeProbe>,
  options: { readonly faults?: Partial<MemoryBroker.Faults>; readonly retry?: Schedule.Schedule<unknown, unknown> } = {}
) => {
  const delivered: Array<string> = []
  const counting = Layer.effect(
    MessageBroker.MessageBroker,
    Effect.map(MemoryBroker.MemoryBroker, (broker) => ({
      ...broker,
      consume: (o: MessageBroker.ConsumerOptions) =>
        broker.consume(o).pipe(Stream.tap((m) => Effect.sync(() => delivered.push(m.id))))
    }))
  )
  const consumer = consumerOf(probe, options.retry)
  const layer = IntegrationConsumer.layer([consumer], {
    pollInterval: "20 millis",
    lagInterval: "20 millis"
  }).pipe(
    Layer.provideMerge(Health.layer({
      subscriptions: [],
      consumers: [consumer],
      thresholds: { lag: { degraded: 1, unhealthy: 3 }, deadLetters: { degraded: 1, unhealthy: 10 } }
    })),
    Layer.provideMerge(CommandHandler.layer()),
    Layer.provideMerge(MemoryEventStore.layer),
    Layer.provideMerge(Layer.provideMerge(counting, MemoryBroker.layer({ seed: 7, faults: options.faults ?? {} })))
  )
  return { delivered, layer }
}

/** The titles offered for a course, in the order they were applied. */
const offeredTitles = (key: string) =>
  Effect.flatMap(
    EventStore.EventStore,
    (store) =>
      Effect.map(store.readStream("Offering", key, 0), (events) =>
        events.map((e) => (e.payload as { readonly title: string }).title))
  )

const lag = Effect.flatMap(MessageBroker.MessageBroker, (broker) => broker.lag("offers"))
const settled = eventually(Effect.flatMap(lag, (n) => expectEffect(() => expect(n).toBe(0))))
const letters = Effect.flatMap(DeadLetters.DeadLetters, (d) => d.list({ subscription: "offers" }))

describe("IntegrationConsumer", () => {
  it.live("applies each message once, in order per key, under duplicate deliveries and lost acknowledgements", () => {
    const probe = makeProbe()
    const { delivered, layer } = service(probe, { faults: { duplicateDelivery: 0.3, lostAck: 0.3, reorder: true } })
    return Effect.gen(function*() {
      const keys = ["k1", "k2", "k3", "k4"]
      const expected = new Map(keys.map((k) => [k, Array.from({ length: 5 }, (_, i) => `${k}-${i}`)]))
      for (let i = 0; i < 5; i++) for (const key of keys) yield* send(message(key, `${key}-${i}`))
      yield* eventually(
        Effect.forEach(
          keys,
          (key) => Effect.flatMap(offeredTitles(key), (t) => expectEffect(() => expect(t).toHaveLength(5)))
        )
      )
      yield* settled
      for (const key of keys) expect(yield* offeredTitles(key)).toEqual(expected.get(key))
      // the faults did happen: more deliveries than messages
      expect(delivered.length).toBeGreaterThan(20)
      expect(new Set(delivered).size).toBe(20)
      expect(yield* letters).toEqual([])
      // the handler's span continues the producer's trace
      expect(probe.parents).toContain("0af7651916cd43dd8448eb211c80319c/b7ad6b7169203331")
    }).pipe(Effect.provide(layer))
  })

  it.live("poison is dead-lettered with its message and terminated at once; its key's later messages are parked, other keys go on", () => {
    const probe = makeProbe()
    const { layer } = service(probe)
    return Effect.gen(function*() {
      const poison = [message("p1", "", "data"), message("p2", "", "version"), message("p3", "", "not-a-cloudevent")]
      yield* send(...poison, message("p1", "after poison"), message("ok", "fine"), message("ok", "fine too"))
      yield* eventually(
        Effect.flatMap(offeredTitles("ok"), (t) => expectEffect(() => expect(t).toEqual(["fine", "fine too"])))
      )
      yield* settled
      const dead = yield* letters
      // by broker position: one key's in order, the keys in any order
      const byKey = (key: string) => dead.filter((d) => d.aggregateId === key).map((d) => [d.kind, d.eventId])
      expect(dead).toHaveLength(4)
      expect(byKey("p1")).toEqual([["poison", poison[0]!.id], ["parked", expect.any(String)]])
      expect(byKey("p2")).toEqual([["poison", poison[1]!.id]])
      expect(byKey("p3")).toEqual([["poison", poison[2]!.id]])
      const letter = (id: string) => dead.find((d) => d.eventId === id)!
      expect(letter(poison[0]!.id).error).toContain("InvalidData")
      expect(letter(poison[1]!.id).error).toContain("UnsupportedVersion")
      // the message is kept, as it was
      expect(letter(poison[2]!.id).message?.payload).toEqual(new Uint8Array([1]))
      expect(probe.attempts.has("after poison")).toBe(false)
    }).pipe(Effect.provide(layer))
  })

  it.live("a failing message is retried with nak and a delay, keeping its key's order; when the schedule gives up it is dead-lettered, and a redrive applies it and what was parked behind it", () => {
    const probe = makeProbe()
    probe.failTimes.set("a-1", 2) // succeeds on the third delivery
    probe.failTimes.set("b-1", 99) // fails until redriven
    const { layer } = service(probe, { faults: { reorder: true } })
    return Effect.gen(function*() {
      yield* send(
        message("a", "a-1"),
        message("a", "a-2"),
        message("b", "b-1"),
        message("b", "b-2"),
        message("a", "a-3")
      )
      yield* eventually(
        Effect.flatMap(offeredTitles("a"), (t) => expectEffect(() => expect(t).toEqual(["a-1", "a-2", "a-3"])))
      )
      expect(probe.attempts.get("a-1")).toBe(3)
      yield* eventually(Effect.flatMap(letters, (l) => expectEffect(() => expect(l).toHaveLength(2))))
      yield* settled
      const [failed, parked] = yield* letters
      expect(failed).toMatchObject({
        kind: "failed",
        aggregateId: "b",
        attempts: 3,
        eventType: "catalog.course-published.v1"
      })
      expect(parked).toMatchObject({ kind: "parked", aggregateId: "b" })
      expect(probe.attempts.get("b-1")).toBe(3)
      expect(probe.attempts.has("b-2")).toBe(false)
      expect(yield* offeredTitles("b")).toEqual([])
      // fixed: a redrive of the failed one applies it, then the parked one, in order
      probe.failTimes.delete("b-1")
      const deadLetters = yield* DeadLetters.DeadLetters
      yield* deadLetters.setStatus(failed!.id, "redrive")
      yield* eventually(Effect.flatMap(letters, (l) => expectEffect(() => expect(l).toEqual([]))))
      expect(yield* offeredTitles("b")).toEqual(["b-1", "b-2"])
      // the lag gauge follows the broker
      yield* eventually(Effect.flatMap(
        Metric.value(
          Metric.taggedWithLabels(Telemetry.consumerLag, [MetricLabel.make("consumer", "offers")])
        ),
        (g) => expectEffect(() => expect(g.value).toBe(0))
      ))
    }).pipe(Effect.provide(layer))
  })

  it.live("its lag is a health measure with thresholds", () => {
    const probe = makeProbe()
    const { layer } = service(probe)
    return Effect.gen(function*() {
      probe.hold = yield* Deferred.make<void>()
      // healthy once the durable consumer exists (before, its lag is unknown: unhealthy)
      yield* eventually(Effect.flatMap(Health.check, (report) =>
        expectEffect(() =>
          expect(report.consumers).toEqual([
            expect.objectContaining({ subscription: "offers", status: "healthy", lag: 0 })
          ])
        )))
      yield* send(message("x", "x-1"))
      // the first is being handled (delivered, not settled)
      yield* eventually(expectEffect(() => expect(probe.attempts.get("x-1")).toBe(1)))
      expect((yield* Health.check).consumers![0]).toMatchObject({ status: "degraded", lag: 1 })
      yield* send(message("x", "x-2"), message("x", "x-3"))
      const unhealthy = yield* Health.check
      expect(unhealthy.status).toBe("unhealthy")
      expect(unhealthy.consumers![0]).toMatchObject({ status: "unhealthy", lag: 3 })
      yield* Deferred.succeed(probe.hold, undefined)
      yield* eventually(
        Effect.flatMap(
          Health.check,
          (report) => expectEffect(() => expect(report.consumers![0]).toMatchObject({ status: "healthy", lag: 0 }))
        )
      )
      expect(yield* offeredTitles("x")).toEqual(["x-1", "x-2", "x-3"])
    }).pipe(Effect.provide(layer))
  })

  it("reads every version of each accepted type", () => {
    const consumer = consumerOf(makeProbe())
    expect(consumer.subjects).toEqual(["catalog.course-published.*"])
    expect(CoursePublishedV2.eventType).toBe("catalog.course-published.v2")
  })
})
