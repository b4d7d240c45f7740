/**
 * The mail outbox: every email notifications sends, written in the transaction of the message that
 * caused it (with its inbox row), so each is sent exactly once. A mailer would deliver from here,
 * with `(message id, student)` as the idempotency key of the mail provider.
 */
import { SqlClient } from "@effect/sql"
import { Clock, Effect } from "effect"
import type * as Tables from "../shared/Tables.js"

export type Kind = "course-published" | "enrolled"

export interface Email {
  readonly courseId: string
  readonly title: string
  readonly kind: Kind
}

export const tables: Tables.Tables = [
  `CREATE TABLE IF NOT EXISTS mail_outbox (
    message_id TEXT NOT NULL,
    student_id TEXT NOT NULL,
    course_id TEXT NOT NULL,
    title TEXT NOT NULL,
    kind TEXT NOT NULL,
    sent_at BIGINT NOT NULL,
    PRIMARY KEY (message_id, student_id)
  )`
]

/** Send an email to a student because of the message `messageId` (once: a repeat is dropped). */
export const send = (messageId: string, studentId: string, email: Email) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const now = yield* Clock.currentTimeMillis
    yield* sql`INSERT INTO mail_outbox (message_id, student_id, course_id, title, kind, sent_at)
      VALUES (${messageId}, ${studentId}, ${email.courseId}, ${email.title}, ${email.kind}, ${now})
      ON CONFLICT (message_id, student_id) DO NOTHING`
  })

/** Every email sent to a student, oldest first. */
export const sentTo = (studentId: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<{ course_id: string; title: string; kind: Kind }>`
      SELECT course_id, title, kind FROM mail_outbox WHERE student_id = ${studentId}
      ORDER BY sent_at, course_id, kind`
    return rows.map((row): Email => ({ courseId: row.course_id, title: row.title, kind: row.kind }))
  })
