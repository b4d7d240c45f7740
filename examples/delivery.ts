/**
 * Delivery from code: a subscription with 8 partitions, an effect made once per event with
 * `Inbox.once`, a failing delivery that ends as a dead letter, listed and redriven through the
 * `Relay.Relay` service. Run it with `npx tsx examples/delivery.ts`.
 */
import { SqliteClient } from "@effect/sql-sqlite-node"
import { Array, Effect, Layer, Schedule, Schema } from "effect"
import { CommandHandler, Inbox, Relay, Subscription } from "effect-ddd"
import { SqlEventStore } from "effect-ddd/sql"
import { Course, CourseId } from "./learning/Domain.js"

class MailerDown extends Schema.TaggedError<MailerDown>()("MailerDown", {}) {
  override get message() {
    return "the mail service is down"
  }
}

/** A mail service outside the database: down until it is repaired. */
const mailer = { up: false, sent: [] as Array<string> }
const announce = (courseId: string) =>
  Effect.suspend(() => mailer.up ? Effect.sync(() => void mailer.sent.push(courseId)) : Effect.fail(new MailerDown()))

export const announcements = Subscription.make({
  name: "announcements",
  events: [Subscription.on(Course, "CoursePublished")],
  // each course is delivered by one of 8 workers (default 4): a hash of its id modulo 8
  partitions: 8,
  // 3 attempts in all, then the event is dead-lettered (the default: 6, over about 3 s)
  retry: Schedule.spaced("10 millis").pipe(Schedule.intersect(Schedule.recurs(2))),
  // the consumer "announcements" announces each event once: a replay of the subscription
  // (`effect-ddd replay --force`) finds the inbox row, committed with the checkpoint, and skips it
  handle: (_, envelope) => announce(envelope.aggregateId).pipe(Inbox.once("announcements", envelope.eventId))
})

const program = Effect.gen(function*() {
  const relay = yield* Relay.Relay
  const courseId = CourseId.make("effect-101")
  yield* CommandHandler.execute(Course, courseId, "create", { title: "Effect 101", seats: 30 })
  yield* CommandHandler.execute(Course, courseId, "publish", {})
  const partition = Subscription.partitionOf(courseId, announcements.partitions)
  yield* Effect.log(`${courseId} is delivered by partition ${partition} of ${announcements.partitions}`)

  // the dead letters of a subscription (or of an aggregate, a partition), listed from code
  const [dead] = yield* relay.deadLetters({ subscription: "announcements" }).pipe(
    Effect.filterOrFail(Array.isNonEmptyReadonlyArray, () => "not dead-lettered yet"),
    Effect.retry(Schedule.spaced("10 millis"))
  )
  yield* Effect.log(
    `dead letter: ${dead.eventType} of ${dead.aggregateId} after ${dead.attempts} attempts (${dead.error})`
  )

  // once the cause is fixed, redrive it: the events are delivered again, in order
  mailer.up = true
  const { events, remaining } = yield* relay.redrive(dead.id)
  const outcomes = events.map((e) => `${e.eventType} ${e.outcome}`).join(", ")
  yield* Effect.log(`redriven: ${outcomes}, ${remaining.length} dead letters left, announced ${mailer.sent.join(", ")}`)
})

const MainLayer = Relay.layer({ subscriptions: [announcements] }).pipe(
  Layer.provideMerge(CommandHandler.layer()),
  Layer.provideMerge(SqlEventStore.layer()),
  Layer.provide(SqliteClient.layer({ filename: ":memory:" }))
)

Effect.runPromise(program.pipe(Effect.provide(MainLayer)))
