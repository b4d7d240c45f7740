/**
 * Recommendations: for a student, the published courses they are not enrolled in, newest first,
 * from tables of their own filled from the catalog's events (one consumer for both, in the order
 * each course recorded them).
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import { IntegrationConsumer } from "effect-ddd"
import { CoursePublishedV1, StudentEnrolledV1 } from "../contracts/Catalog.js"
import type * as Tables from "../shared/Tables.js"

export const tables: Tables.Tables = [
  `CREATE TABLE IF NOT EXISTS recommendation_courses (
    course_id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    published_at BIGINT NOT NULL,
    arrival BIGINT NOT NULL
  )`,
  `CREATE TABLE IF NOT EXISTS recommendation_enrollments (
    course_id TEXT NOT NULL,
    student_id TEXT NOT NULL,
    PRIMARY KEY (student_id, course_id)
  )`
]

/** At most this many courses are recommended. */
export const limit = 10

export const consumer = IntegrationConsumer.make({
  name: "discovery-recommendations",
  events: [CoursePublishedV1, StudentEnrolledV1],
  handle: (received) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      if (received.type === "catalog.student-enrolled") {
        const { courseId, studentId } = received.data
        return yield* sql`INSERT INTO recommendation_enrollments (course_id, student_id) VALUES (${courseId}, ${studentId})
          ON CONFLICT (student_id, course_id) DO NOTHING`
      }
      const { courseId, title } = received.data
      // when the catalog published it; courses published in the same millisecond by arrival (`WHERE true`:
      // SQLite reads an upsert after a SELECT without WHERE as a join)
      const publishedAt = received.event.time === undefined ? 0 : Date.parse(received.event.time)
      yield* sql`INSERT INTO recommendation_courses (course_id, title, published_at, arrival)
        SELECT ${courseId}, ${title}, CAST(${publishedAt} AS BIGINT), COALESCE(MAX(arrival), 0) + 1
        FROM recommendation_courses WHERE true
        ON CONFLICT (course_id) DO NOTHING`
    })
})

/** The published courses a student is not enrolled in, newest first, at most `limit`. */
export const recommendedFor = (studentId: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<{ course_id: string; title: string }>`
      SELECT c.course_id, c.title FROM recommendation_courses c
      WHERE NOT EXISTS (
        SELECT 1 FROM recommendation_enrollments e WHERE e.student_id = ${studentId} AND e.course_id = c.course_id
      )
      ORDER BY c.published_at DESC, c.arrival DESC
      LIMIT ${limit}`
    return rows.map((row) => ({ courseId: row.course_id, title: row.title }))
  })
