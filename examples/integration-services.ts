/**
 * Two services in one process, each with its own store, joined by a broker (the in-memory one
 * here; `effect-ddd/nats` in production): the catalog publishes from its outbox
 * (examples/course-publication.ts), the enrollment service consumes into its inbox
 * (examples/course-consumer.ts). Run it with `npx tsx examples/integration-services.ts`.
 */
import { Effect, Layer, Schedule } from "effect"
import { CommandHandler, IntegrationConsumer, MemoryBroker, MemoryEventStore, Relay } from "effect-ddd"
import { offerCourses, Offering } from "./course-consumer.js"
import { Course, CourseId, publishCourses } from "./course-publication.js"

// each service: its own store; the relay publishes, the consumer applies
const Catalog = Relay.layer({ subscriptions: [publishCourses], pollInterval: "50 millis" }).pipe(
  Layer.provideMerge(CommandHandler.layer()),
  Layer.provideMerge(MemoryEventStore.layer)
)
const Enrollment = IntegrationConsumer.layer([offerCourses]).pipe(
  Layer.provideMerge(CommandHandler.layer()),
  Layer.provideMerge(MemoryEventStore.layer)
)

const program = Effect.gen(function*() {
  const broker = yield* Layer.build(MemoryBroker.layer())
  const catalog = yield* Layer.build(Catalog.pipe(Layer.provide(Layer.succeedContext(broker))))
  const enrollment = yield* Layer.build(Enrollment.pipe(Layer.provide(Layer.succeedContext(broker))))
  const publish = (id: string, title: string, internal = false) =>
    CommandHandler.execute(Course, CourseId.make(id), "publish", { title, internal }).pipe(Effect.provide(catalog))
  yield* publish("c-1", "Effect basics")
  yield* publish("c-2", "Draft notes", true) // internal: not published to other services
  yield* publish("c-3", "Schema")
  const offered = (id: string) =>
    CommandHandler.load(Offering, id).pipe(
      Effect.map((offering) => offering.state),
      Effect.provide(enrollment)
    )
  const [first, third] = yield* Effect.all([offered("c-1"), offered("c-3")]).pipe(
    Effect.filterOrFail(([a, b]) => a.offered > 0 && b.offered > 0, () => "not there yet"),
    Effect.retry(Schedule.spaced("20 millis"))
  )
  yield* Effect.log(`offered: ${first.title} (${first.offered}x), ${third.title} (${third.offered}x)`)
  yield* Effect.log(`c-2 offered: ${(yield* offered("c-2")).offered}x`)
})

Effect.runPromise(Effect.scoped(program))
