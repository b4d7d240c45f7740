/**
 * What the catalog tells other services: a course's enrollments and its publication, mapped to
 * the public contracts by one publication, so they reach the broker (and every consumer that
 * accepts both) in the order the course recorded them.
 */
import { Publication, Subscription } from "effect-ddd"
import { CoursePublishedV1, StudentEnrolledV1 } from "../contracts/Catalog.js"
import { Course } from "./Course.js"

export const publishCourses = Publication.makeRouted({
  name: "catalog-publish-courses",
  events: [Subscription.on(Course, "StudentEnrolled", "CoursePublished")],
  to: [StudentEnrolledV1, CoursePublishedV1],
  source: "/catalog",
  map: (event, envelope) =>
    event._tag === "StudentEnrolled"
      ? Publication.route(StudentEnrolledV1, { courseId: envelope.aggregateId, studentId: event.studentId })
      : Publication.route(CoursePublishedV1, { courseId: envelope.aggregateId, title: event.title })
})
