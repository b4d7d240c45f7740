/**
 * Search: the published courses by title, in a table of its own, filled from the catalog's
 * `catalog.course-published` events. Drafts are never published, so they never appear.
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import { IntegrationConsumer } from "effect-ddd"
import { CoursePublishedV1 } from "../contracts/Catalog.js"
import type * as Tables from "../shared/Tables.js"

export const tables: Tables.Tables = [
  `CREATE TABLE IF NOT EXISTS search_courses (
    course_id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    title_lower TEXT NOT NULL
  )`
]

export const consumer = IntegrationConsumer.make({
  name: "discovery-search",
  events: [CoursePublishedV1],
  handle: ({ data }) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`INSERT INTO search_courses (course_id, title, title_lower)
        VALUES (${data.courseId}, ${data.title}, ${data.title.toLowerCase()})
        ON CONFLICT (course_id) DO NOTHING`
    })
})

/** `%`, `_` and the escape character itself match literally. */
const literal = (word: string) => word.replace(/[\\%_]/g, (c) => `\\${c}`)

/** The published courses whose title contains `word`, whatever the case, by title. */
export const search = (word: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const pattern = `%${literal(word.toLowerCase())}%`
    const rows = yield* sql<{ course_id: string; title: string }>`
      SELECT course_id, title FROM search_courses WHERE title_lower LIKE ${pattern} ESCAPE '\\'
      ORDER BY title, course_id`
    return rows.map((row) => ({ courseId: row.course_id, title: row.title }))
  })
