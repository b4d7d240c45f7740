/**
 * Integration events between services: the CloudEvent on the wire, and a round trip through a
 * broker (the in-memory one here; `effect-ddd/nats` in production) with a consumer that accepts
 * an older version of the contract through an upcaster (examples/catalog-contracts.ts). Run it with
 * `npx tsx examples/integration-events.ts`.
 */
import { Effect, Stream } from "effect"
import { CloudEvent, IntegrationEvent, MemoryBroker, MessageBroker } from "effect-ddd"
import { CoursePublished, CoursePublishedV1, CoursePublishedV2 } from "./catalog-contracts.js"

// Publishing: the contract's data becomes a CloudEvent, then a broker message (binary content mode).
const publish = <C extends IntegrationEvent.Any>(contract: C, data: IntegrationEvent.Data<C>, domainEventId: string) =>
  Effect.gen(function*() {
    const event = yield* IntegrationEvent.encode(contract, data, {
      id: IntegrationEvent.messageId(contract, domainEventId), // the same id when published again
      source: "/catalog",
      subject: data.courseId,
      partitionkey: data.courseId // one course's events stay in order
    })
    const { headers, payload } = yield* CloudEvent.toBinary(event)
    const broker = yield* MessageBroker.MessageBroker
    return yield* broker.publish([{ id: event.id, subject: event.type, partitionKey: data.courseId, headers, payload }])
  })

// Consuming: the message becomes a CloudEvent, then the accepted contract's data.
const consume = Effect.gen(function*() {
  const broker = yield* MessageBroker.MessageBroker
  yield* broker.consume({ name: "discovery-search", subjects: ["catalog.course-published.>"] }).pipe(
    Stream.mapEffect((message) =>
      Effect.gen(function*() {
        const event = yield* CloudEvent.fromBinary(message)
        const received = yield* IntegrationEvent.decode([CoursePublished], event)
        yield* Effect.log(
          `${received.data.title}: ${received.data.lessons} lessons (published as v${received.version})`
        )
        yield* message.ack
      })
    ),
    Stream.take(2),
    Stream.runDrain
  )
})

const program = Effect.gen(function*() {
  yield* publish(CoursePublishedV1, { courseId: "c-1", title: "Effect basics" }, "019a0000-0000-7000-8000-000000000001")
  yield* publish(
    CoursePublishedV2,
    { courseId: "c-2", title: "Schema", lessons: 4 },
    "019a0000-0000-7000-8000-000000000002"
  )
  // published again (a retry after a crash): the same message id, a duplicate for the broker
  const [again] = yield* publish(
    CoursePublishedV1,
    { courseId: "c-1", title: "Effect basics" },
    "019a0000-0000-7000-8000-000000000001"
  )
  yield* Effect.log(`republished: duplicate=${again!.duplicate}`)
  yield* consume
})

Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(MemoryBroker.layer())))
