/**
 * The enrollment service consumes the catalog's courses: each `catalog.course-published` message
 * (v1 upcast to v2, examples/catalog-contracts.ts) offers the course in the service's own
 * Offering aggregate, in a local transaction with the consumer's inbox row, so a redelivered
 * message is applied once.
 */
import { Effect, Either, Schedule, Schema } from "effect"
import { Aggregate, CommandHandler, IntegrationConsumer } from "effect-ddd"
import { CoursePublished } from "./catalog-contracts.js"

const Offered = Schema.TaggedStruct("CourseOffered", { title: Schema.String, lessons: Schema.Int })

export const Offering = Aggregate.make({
  name: "Offering",
  id: Schema.String,
  state: Schema.Struct({ title: Schema.String, offered: Schema.Int }),
  events: Offered
})({
  initial: () => ({ title: "", offered: 0 }),
  evolve: { CourseOffered: (s, e) => ({ title: e.title, offered: s.offered + 1 }) }
})
  .command("offer", {
    expects: "any",
    input: Schema.Struct({ title: Schema.String, lessons: Schema.Int }),
    decide: (_, input) => Either.right([Offered.make(input)])
  })

export const offerCourses = IntegrationConsumer.make({
  name: "enrollment-courses",
  events: [CoursePublished],
  // retried with the broker's nak(delay), then dead-lettered with the message kept for a redrive
  retry: Schedule.exponential("200 millis").pipe(Schedule.intersect(Schedule.recurs(5))),
  handle: (received) =>
    Effect.asVoid(CommandHandler.execute(Offering, received.data.courseId, "offer", {
      title: received.data.title,
      lessons: received.data.lessons
    }))
})
