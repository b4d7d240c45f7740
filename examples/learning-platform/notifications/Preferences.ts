/**
 * Notifications' own copy of users' email preferences, kept from the accounts service's
 * `accounts.email-preferences-changed` events (in order per user). Another service's data, so
 * eventually consistent: the copy says what notifications knows at the time.
 */
import { SqlClient } from "@effect/sql"
import { Effect, Option } from "effect"
import { IntegrationConsumer } from "effect-ddd"
import { EmailPreferencesChangedV1 } from "../contracts/Accounts.js"
import type * as Tables from "../shared/Tables.js"

export const tables: Tables.Tables = [
  `CREATE TABLE IF NOT EXISTS notification_preferences (
    user_id TEXT PRIMARY KEY,
    course_announcements INTEGER NOT NULL
  )`
]

export const consumer = IntegrationConsumer.make({
  name: "notifications-email-preferences",
  events: [EmailPreferencesChangedV1],
  handle: ({ data }) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const allowed = data.courseAnnouncements ? 1 : 0
      yield* sql`INSERT INTO notification_preferences (user_id, course_announcements) VALUES (${data.userId}, ${allowed})
        ON CONFLICT (user_id) DO UPDATE SET course_announcements = ${allowed}`
    })
})

/** A user's preferences as notifications knows them, if it knows them. */
export const known = (userId: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<{ course_announcements: number }>`
      SELECT course_announcements FROM notification_preferences WHERE user_id = ${userId}`
    return Option.map(
      Option.fromNullable(rows[0]),
      (row) => ({ courseAnnouncements: Number(row.course_announcements) === 1 })
    )
  })
