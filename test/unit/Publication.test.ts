import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Layer, Metric, MetricLabel, Schedule, ScheduleDecision } from "effect"
import {
  CloudEvent,
  CommandHandler,
  EventStore,
  Health,
  IntegrationEvent,
  MemoryBroker,
  MemoryEventStore,
  MessageBroker,
  Publication,
  Relay,
  Subscription,
  Telemetry
} from "effect-ddd"
import { CoursePublishedV1 } from "../../examples/catalog-contracts.js"
import { Course, CourseId, publishCourses } from "../../examples/course-publication.js"
import {
  Course as PlatformCourse,
  CourseId as PlatformCourseId
} from "../../examples/learning-platform/catalog/Course.js"
import { publishCourses as publishCatalog } from "../../examples/learning-platform/catalog/Publication.js"
import {
  CoursePublishedV1 as PlatformCoursePublishedV1,
  StudentEnrolledV1
} from "../../examples/learning-platform/contracts/Catalog.js"
import { retryOf } from "../../src/runtime/internal/integration/publication.js"

const eventually = <A, E, R>(check: Effect.Effect<A, E, R>) =>
  Effect.retry(check, Schedule.spaced("10 millis").pipe(Schedule.upTo("30 seconds")))

const expectEffect = (f: () => void) => Effect.try({ try: f, catch: (error) => error })

// a user retry that gives up at once: only the outage rule keeps it publishing while the broker is down
const publication = Publication.make({
  name: "publish-courses-outage",
  events: [Subscription.on(Course, "CoursePublished")],
  to: CoursePublishedV1,
  retry: Schedule.recurs(1),
  map: (event, envelope) => ({ courseId: envelope.aggregateId, title: event.title })
})

const serviceOf = (publication: Publication.Publication<any>) =>
  Relay.layer({ subscriptions: [publication], pollInterval: "20 millis" }).pipe(
    Layer.provideMerge(Health.layer({
      subscriptions: [publication],
      thresholds: { lag: { degraded: 1, unhealthy: 3 }, oldestUndeliveredAge: {} }
    })),
    Layer.provideMerge(CommandHandler.layer()),
    Layer.provideMerge(MemoryEventStore.layer),
    Layer.provideMerge(MemoryBroker.layer())
  )

const Service = serviceOf(publishCourses)

const publish = (id: string, title: string, internal = false, correlationId?: string) =>
  CommandHandler.execute(Course, CourseId.make(id), "publish", { title, internal }, {
    metadata: { correlationId }
  })

/** The published messages, decoded, by partition key. */
const published = Effect.gen(function*() {
  const broker = yield* MemoryBroker.MemoryBroker
  const messages = yield* broker.messages
  return messages.map((m) => {
    const event = Either.getOrThrow(CloudEvent.fromBinary(m))
    const received = Either.getOrThrow(IntegrationEvent.decode([CoursePublishedV1], event))
    return { message: m, event, data: received.data }
  })
})

const titlesOf = (key: string) =>
  Effect.map(published, (all) => all.filter((p) => p.message.partitionKey === key).map((p) => p.data.title))

describe("Publication", () => {
  it.live("publishes each aggregate's events in order, as CloudEvents with deterministic ids and the source's context", () =>
    Effect.gen(function*() {
      const titles = Array.from({ length: 6 }, (_, i) => `title ${i}`)
      for (const title of titles) {
        yield* publish("c-1", `c-1 ${title}`)
        yield* publish("c-2", `c-2 ${title}`, false, "request-2")
      }
      yield* eventually(Effect.flatMap(published, (all) => expectEffect(() => expect(all).toHaveLength(12))))
      expect(yield* titlesOf("c-1")).toEqual(titles.map((t) => `c-1 ${t}`))
      expect(yield* titlesOf("c-2")).toEqual(titles.map((t) => `c-2 ${t}`))
      const store = yield* EventStore.EventStore
      const stored = yield* store.readStream("Course", "c-1", 0)
      const first = (yield* published).find((p) => p.message.partitionKey === "c-1")!
      // the message id is derived from the domain event id and the contract: a republish has the same
      expect(first.message.id).toBe(IntegrationEvent.messageId(CoursePublishedV1, stored[0]!.eventId))
      expect(first.message.subject).toBe("catalog.course-published.v1")
      expect(first.event).toMatchObject({
        source: "/catalog",
        subject: "c-1",
        partitionkey: "c-1",
        causationid: stored[0]!.eventId
      })
      const second = (yield* published).find((p) => p.message.partitionKey === "c-2")!
      expect(second.event.correlationid).toBe("request-2")
      expect(first.event.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/)
      // the trace continues the command's: the same trace id as the stored event's
      expect(first.event.traceparent!.split("-")[1]).toBe(stored[0]!.metadata.traceparent!.split("-")[1])
    }).pipe(Effect.provide(Service)))

  it.live("an event mapped to undefined is skipped: nothing published, the aggregate's next event is", () =>
    Effect.gen(function*() {
      yield* publish("c-1", "first")
      yield* publish("c-1", "internal notes", true)
      yield* publish("c-1", "third")
      // the third event is published only after the second was handled (one aggregate, in order)
      yield* eventually(Effect.flatMap(titlesOf("c-1"), (t) => expectEffect(() => expect(t).toContain("third"))))
      expect(yield* titlesOf("c-1")).toEqual(["first", "third"])
    }).pipe(Effect.provide(Service)))

  it.live("while the broker is down commands are accepted, the lag grows and health degrades; all drains once it is back", () =>
    Effect.gen(function*() {
      const broker = yield* MemoryBroker.MemoryBroker
      const retries = Metric.taggedWithLabels(Telemetry.deliveryRetries, [
        MetricLabel.make("subscription", publication.name)
      ])
      const retriedBefore = (yield* Metric.value(retries)).count
      yield* broker.setAvailable(false)
      yield* publish("c-1", "one")
      // the publication tried, and is retrying past its own retry schedule
      yield* eventually(
        Effect.flatMap(
          Metric.value(retries),
          (r) => expectEffect(() => expect(r.count).toBeGreaterThan(retriedBefore + 2))
        )
      )
      const degraded = yield* Health.check
      expect(degraded.subscriptions.find((s) => s.subscription === publication.name)).toMatchObject({
        status: "degraded",
        lag: 1
      })
      yield* publish("c-2", "two")
      yield* publish("c-3", "three")
      const unhealthy = yield* Health.check
      expect(unhealthy.status).toBe("unhealthy")
      expect(unhealthy.subscriptions[0]!.lag).toBe(3)
      expect(yield* broker.messages).toEqual([])
      yield* broker.setAvailable(true)
      yield* eventually(Effect.flatMap(published, (all) => expectEffect(() => expect(all).toHaveLength(3))))
      yield* eventually(
        Effect.flatMap(
          Health.check,
          (report) =>
            expectEffect(() =>
              expect(report.subscriptions[0]).toMatchObject({ status: "healthy", lag: 0, deadLetters: 0 })
            )
        )
      )
    }).pipe(Effect.provide(serviceOf(publication))))

  it("is a subscription of kind publication, run by the relay", () => {
    expect(publishCourses.kind).toBe("publication")
    expect(Publication.isPublication(publishCourses)).toBe(true)
    expect(publishCourses.inTransaction).toBe(false)
  })
})

describe("Publication retries", () => {
  const steps = (schedule: Schedule.Schedule<unknown, unknown>, inputs: ReadonlyArray<unknown>) =>
    Effect.gen(function*() {
      let state = schedule.initial
      const continued: Array<boolean> = []
      for (const input of inputs) {
        const [next, , decision] = yield* schedule.step(0, input, state)
        state = next
        continued.push(ScheduleDecision.isContinue(decision))
      }
      return continued
    })

  it.effect("an unreachable broker is retried for as long as it takes, without spending the publication's retry", () =>
    Effect.gen(function*() {
      const down = new MessageBroker.MessageBrokerError({ reason: "Unavailable", detail: "down" })
      const refused = new MessageBroker.MessageBrokerError({ reason: "Rejected", detail: "refused" })
      const retry = retryOf(Schedule.recurs(1))
      expect(yield* steps(retry, [...Array.from({ length: 50 }, () => down), refused, refused])).toEqual([
        ...Array.from({ length: 50 }, () => true),
        true,
        false
      ])
    }))
})

describe("Publication.makeRouted", () => {
  const Catalog = serviceOf(publishCatalog)
  const decodeAll = Effect.gen(function*() {
    const broker = yield* MemoryBroker.MemoryBroker
    return (yield* broker.messages).map((m) => {
      const received = Either.getOrThrow(
        IntegrationEvent.decode(
          [StudentEnrolledV1, PlatformCoursePublishedV1],
          Either.getOrThrow(CloudEvent.fromBinary(m))
        )
      )
      return { key: m.partitionKey, subject: m.subject, id: m.id, received }
    })
  })

  it.live("publishes an aggregate's events to several contracts, in the aggregate's order", () =>
    Effect.gen(function*() {
      const course = PlatformCourseId.make("c-1")
      yield* CommandHandler.execute(PlatformCourse, course, "create", { title: "Effect" })
      yield* CommandHandler.execute(PlatformCourse, course, "addLesson", { title: "Either" })
      yield* CommandHandler.execute(PlatformCourse, course, "enroll", { studentId: "s-1" })
      yield* CommandHandler.execute(PlatformCourse, course, "enroll", { studentId: "s-2" })
      yield* CommandHandler.execute(PlatformCourse, course, "publish", {})
      yield* CommandHandler.execute(PlatformCourse, course, "enroll", { studentId: "s-3" })
      yield* eventually(Effect.flatMap(decodeAll, (all) => expectEffect(() => expect(all).toHaveLength(4))))
      const all = yield* decodeAll
      expect(all.map((m) => [m.subject, m.received.data])).toEqual([
        ["catalog.student-enrolled.v1", { courseId: "c-1", studentId: "s-1" }],
        ["catalog.student-enrolled.v1", { courseId: "c-1", studentId: "s-2" }],
        ["catalog.course-published.v1", { courseId: "c-1", title: "Effect" }],
        ["catalog.student-enrolled.v1", { courseId: "c-1", studentId: "s-3" }]
      ])
      expect(all.every((m) => m.key === "c-1" && m.received.event.source === "/catalog")).toBe(true)
      // each message's id is derived from its domain event and its own contract
      const stored = yield* (yield* EventStore.EventStore).readStream("Course", "c-1", 0)
      expect(all[2]!.id).toBe(IntegrationEvent.messageId(PlatformCoursePublishedV1, stored[4]!.eventId))
      expect(all[0]!.id).toBe(IntegrationEvent.messageId(StudentEnrolledV1, stored[2]!.eventId))
    }).pipe(Effect.provide(Catalog)))

  it("checks each contract's data against that contract", () => {
    expect(Publication.route(PlatformCoursePublishedV1, { courseId: "c", title: "t" })).toEqual({
      contract: PlatformCoursePublishedV1,
      data: { courseId: "c", title: "t" }
    })
    // @ts-expect-error: the data of another contract
    Publication.route(PlatformCoursePublishedV1, { courseId: "c", studentId: "s" })
  })
})
