/**
 * The catalog's public contracts: what other services need to know of courses, and nothing more
 * (no lessons, no draft titles). Both are keyed by the course id and published by one publication,
 * so a course's enrollments and its publication reach every consumer in the order they happened.
 */
import { Schema } from "effect"
import { IntegrationEvent } from "effect-ddd"

/** A course was published: from now on students find it, and those enrolled hear of it. */
export const CoursePublishedV1 = IntegrationEvent.make({
  type: "catalog.course-published",
  version: 1,
  schema: Schema.Struct({ courseId: Schema.String, title: Schema.String })
})

/** A student enrolled in a course, a draft (pre-registration) or a published one. */
export const StudentEnrolledV1 = IntegrationEvent.make({
  type: "catalog.student-enrolled",
  version: 1,
  schema: Schema.Struct({ courseId: Schema.String, studentId: Schema.String })
})
