/**
 * A student who enrolls in a course already published gets one `enrolled` email, whatever the
 * preferences. The course's publication arrives before any later enrollment (one partition key,
 * one consumer for both), so a course recorded here was published before the enrollment.
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import { IntegrationConsumer } from "effect-ddd"
import { CoursePublishedV1, StudentEnrolledV1 } from "../contracts/Catalog.js"
import type * as Tables from "../shared/Tables.js"
import * as Mail from "./Mail.js"

export const tables: Tables.Tables = [
  `CREATE TABLE IF NOT EXISTS enrollment_email_courses (
    course_id TEXT PRIMARY KEY,
    title TEXT NOT NULL
  )`
]

export const consumer = IntegrationConsumer.make({
  name: "notifications-enrollment-emails",
  events: [CoursePublishedV1, StudentEnrolledV1],
  handle: (received) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      if (received.type === "catalog.course-published") {
        const { courseId, title } = received.data
        return yield* sql`INSERT INTO enrollment_email_courses (course_id, title) VALUES (${courseId}, ${title})
          ON CONFLICT (course_id) DO NOTHING`
      }
      const { courseId, studentId } = received.data
      const published = yield* sql<{ title: string }>`
        SELECT title FROM enrollment_email_courses WHERE course_id = ${courseId}`
      if (published[0] === undefined) return
      yield* Mail.send(received.event.id, studentId, { courseId, title: published[0].title, kind: "enrolled" })
    })
})
