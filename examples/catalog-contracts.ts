/**
 * The public contracts of a catalog service: two versions of one integration event, and what a
 * consumer that reads both accepts.
 */
import { Schema } from "effect"
import { IntegrationEvent } from "effect-ddd"

// The catalog service's public contract, version 1 ...
export const CoursePublishedV1 = IntegrationEvent.make({
  type: "catalog.course-published",
  version: 1,
  schema: Schema.Struct({ courseId: Schema.String, title: Schema.String })
})

// ... and version 2, which adds the number of lessons. Both versions are published for a while.
export const CoursePublishedV2 = IntegrationEvent.make({
  type: "catalog.course-published",
  version: 2,
  schema: Schema.Struct({ courseId: Schema.String, title: Schema.String, lessons: Schema.Int })
})

// A consumer reads version 2, and version 1 upcast to it.
export const CoursePublished = IntegrationEvent.accepting(CoursePublishedV2, {
  from: CoursePublishedV1,
  upcast: (v1) => ({ ...v1, lessons: 0 })
})
