/**
 * When a course is published, each student enrolled by then gets one `course-published` email,
 * unless that student turned course announcements off (as notifications knows it). The catalog's
 * enrollments and publication of a course arrive in the order they happened (one partition key,
 * one consumer for both), so the students recorded here are exactly those enrolled by then.
 */
import { SqlClient } from "@effect/sql"
import { Effect, Option } from "effect"
import { IntegrationConsumer } from "effect-ddd"
import { CoursePublishedV1, StudentEnrolledV1 } from "../contracts/Catalog.js"
import type * as Tables from "../shared/Tables.js"
import * as Mail from "./Mail.js"
import * as Preferences from "./Preferences.js"

export const tables: Tables.Tables = [
  `CREATE TABLE IF NOT EXISTS announcement_enrollments (
    course_id TEXT NOT NULL,
    student_id TEXT NOT NULL,
    PRIMARY KEY (course_id, student_id)
  )`
]

export const consumer = IntegrationConsumer.make({
  name: "notifications-course-announcements",
  events: [StudentEnrolledV1, CoursePublishedV1],
  handle: (received) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      if (received.type === "catalog.student-enrolled") {
        const { courseId, studentId } = received.data
        return yield* sql`INSERT INTO announcement_enrollments (course_id, student_id) VALUES (${courseId}, ${studentId})
          ON CONFLICT (course_id, student_id) DO NOTHING`
      }
      const { courseId, title } = received.data
      const students = yield* sql<{ student_id: string }>`
        SELECT student_id FROM announcement_enrollments WHERE course_id = ${courseId} ORDER BY student_id`
      for (const { student_id } of students) {
        const preferences = yield* Preferences.known(student_id)
        if (Option.isSome(preferences) && !preferences.value.courseAnnouncements) continue
        yield* Mail.send(received.event.id, student_id, { courseId, title, kind: "course-published" })
      }
    })
})
