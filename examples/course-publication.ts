/**
 * The catalog service publishes its courses: a small Course aggregate, and a publication that
 * maps its `CoursePublished` domain events to the public `catalog.course-published` v1 contract
 * (examples/catalog-contracts.ts). The relay runs it like any subscription.
 */
import { Either, Schema } from "effect"
import { Aggregate, Publication, Subscription } from "effect-ddd"
import { CoursePublishedV1 } from "./catalog-contracts.js"

export const CourseId = Schema.String.pipe(Schema.brand("CourseId"))
const CoursePublished = Schema.TaggedStruct("CoursePublished", { title: Schema.String, internal: Schema.Boolean })

export const Course = Aggregate.make({
  name: "Course",
  id: CourseId,
  state: Schema.Struct({ published: Schema.Int }),
  events: CoursePublished
})({ initial: () => ({ published: 0 }), evolve: { CoursePublished: (s) => ({ published: s.published + 1 }) } })
  .command("publish", {
    expects: "any",
    input: Schema.Struct({ title: Schema.String, internal: Schema.Boolean }),
    decide: (_, input) => Either.right([CoursePublished.make(input)])
  })

export const publishCourses = Publication.make({
  name: "publish-course-published",
  events: [Subscription.on(Course, "CoursePublished")],
  to: CoursePublishedV1,
  source: "/catalog",
  // the public contract exposes what other services need; `undefined` publishes nothing
  map: (event, envelope) => event.internal ? undefined : { courseId: envelope.aggregateId, title: event.title }
})
