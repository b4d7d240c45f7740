/**
 * End to end between two services, each with its own SQLite file, through a real nats-server:
 * the catalog (service A) publishes from its outbox, the enrollment service (B) consumes into its
 * inbox. Every event is applied exactly once in B, in order per course, across a SIGKILL of the
 * NATS server mid-stream and a restart of B's consumer.
 */
import { SqliteClient } from "@effect/sql-sqlite-node"
import { expect, layer } from "@effect/vitest"
import { Effect, Exit, Layer, Schedule, Scope } from "effect"
import { CommandHandler, DeadLetters, EventStore, IntegrationConsumer, Relay } from "effect-ddd"
import { NatsBroker } from "effect-ddd/nats"
import { SqlEventStore } from "effect-ddd/sql"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { offerCourses } from "../../examples/course-consumer.js"
import { Course, CourseId, publishCourses } from "../../examples/course-publication.js"
import { natsServer, NatsServerService } from "../support/nats.js"

const dir = mkdtempSync(join(tmpdir(), "effect-ddd-integration-"))

const eventually = <A, E, R>(check: Effect.Effect<A, E, R>) =>
  Effect.retry(check, Schedule.spaced("50 millis").pipe(Schedule.upTo("90 seconds")))

const expectEffect = (f: () => void) => Effect.try({ try: f, catch: (error) => error })

const brokerOf = (url: string) =>
  NatsBroker.layer({ servers: url, requestTimeout: "2 seconds", reconnectWait: "100 millis", startup: "background" })

const storeOf = (file: string) =>
  CommandHandler.layer().pipe(
    Layer.provideMerge(SqlEventStore.layer()),
    Layer.provideMerge(SqliteClient.layer({ filename: join(dir, file) }))
  )

/** B's consumer: the example's, with a short ack wait so what a stopped consumer held comes back soon. */
const consumer = { ...offerCourses, ackWait: "2 seconds" as const }

const courses = ["c-1", "c-2", "c-3", "c-4", "c-5", "c-6"]

layer(natsServer, { timeout: 240_000, excludeTestServices: true })("integration events end to end", (it) => {
  it.scoped(
    "A (SQLite + relay + publication) -> NATS -> B (SQLite + consumer): exactly once, in order, across a NATS SIGKILL and a consumer restart",
    () =>
      Effect.gen(function*() {
        const server = yield* NatsServerService
        const catalog = yield* Layer.build(
          Relay.layer({ subscriptions: [publishCourses], pollInterval: "100 millis" }).pipe(
            Layer.provideMerge(storeOf("catalog.db")),
            Layer.provide(brokerOf(server.url))
          )
        )
        // B's store stays up; its consumer (and broker connection) can be stopped and started
        const enrollment = yield* Layer.build(storeOf("enrollment.db"))
        const startConsumer = Effect.gen(function*() {
          const scope = yield* Scope.make()
          yield* Layer.buildWithScope(
            IntegrationConsumer.layer([consumer], { pollInterval: "200 millis" }).pipe(
              Layer.provide(brokerOf(server.url)),
              Layer.provide(Layer.succeedContext(enrollment))
            ),
            scope
          )
          return scope
        })

        const expected = new Map<string, Array<string>>(courses.map((c) => [c, []]))
        let n = 0
        const publishSome = (count: number) =>
          Effect.forEach(Array.from({ length: count }), () => {
            const course = courses[n % courses.length]!
            const title = `${course} #${n++}`
            expected.get(course)!.push(title)
            return CommandHandler.execute(Course, CourseId.make(course), "publish", { title, internal: false }).pipe(
              Effect.provide(catalog)
            )
          }, { discard: true })
        const applied = Effect.provide(
          Effect.flatMap(EventStore.EventStore, (store) =>
            Effect.forEach(courses, (course) =>
              Effect.map(
                store.readStream("Offering", course, 0),
                (events) => [course, events.map((e) => (e.payload as { readonly title: string }).title)] as const
              ))),
          enrollment
        )
        const total = Effect.map(applied, (all) => all.reduce((sum, [, titles]) => sum + titles.length, 0))
        const atLeast = (count: number) =>
          eventually(Effect.flatMap(total, (t) => expectEffect(() => expect(t).toBeGreaterThanOrEqual(count))))

        let consumerScope = yield* startConsumer
        yield* publishSome(30)
        yield* atLeast(5)

        // the broker dies mid-stream: commands are still accepted (they only write A's outbox)
        yield* Effect.promise(server.kill)
        yield* publishSome(30)
        yield* Effect.promise(server.start)
        yield* atLeast(35)

        // B's consumer stops mid-stream (what it held unacknowledged comes back), then starts again
        yield* publishSome(30)
        yield* atLeast(65)
        yield* Scope.close(consumerScope, Exit.void)
        yield* publishSome(30)
        consumerScope = yield* startConsumer

        yield* eventually(Effect.flatMap(total, (t) => expectEffect(() => expect(t).toBeGreaterThanOrEqual(n))))
        // exactly once and in order per course: every title once, in publishing order
        expect(new Map(yield* applied)).toEqual(expected)
        expect(n).toBe(120)
        const dead = yield* Effect.provide(
          Effect.flatMap(DeadLetters.DeadLetters, (d) => d.list({})),
          enrollment
        )
        expect(dead).toEqual([])
        yield* Scope.close(consumerScope, Exit.void)
      })
  )
})
