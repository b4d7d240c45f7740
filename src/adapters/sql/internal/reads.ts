/**
 * The store's reads: an aggregate's state row and stream (on every command), and the log after a
 * cursor (the relay's pages, the backlog of a subscription, the cursor before a position).
 */
import { SqlSchema } from "@effect/sql"
import { Effect, Option, Schema } from "effect"
import {
  cursorOf,
  isAfter,
  type LogCursor,
  type LoggedEvent,
  type LogPage,
  type Service
} from "../../../ports/EventStore.js"
import * as Dialect from "./dialect.js"
import type { LogQueries } from "./logQueries.js"
import { type Query, toDecodeError } from "./queries.js"
import * as Rows from "./rows.js"
import type { Statements } from "./statements.js"

export type Reads = Pick<Service, "readStream" | "readState" | "readAll" | "readPage" | "backlog" | "cursorBefore">

/** A page of the log from the rows of the page query (see `LogQueries.page`). */
const toPage = (rows: ReadonlyArray<Rows.PageRow>, after: LogCursor, limit: number): LogPage => {
  const events: Array<LoggedEvent> = []
  for (const row of rows) if (row.event_id !== null) events.push(Rows.toLogged(row as Rows.LogRow))
  if (events.length > 0 && events.length >= limit) {
    return { events, next: cursorOf(events[events.length - 1]!) }
  }
  const seen = rows[0]
  const heldBack = seen?.held_back === true
  if (seen === undefined || seen.seen_position === null) return { events, next: after, heldBack }
  const next = {
    commitOrder: Dialect.readNumber(seen.seen_commit_order),
    position: Dialect.readNumber(seen.seen_position)
  }
  return { events, next: isAfter(next, after) ? next : after, heldBack }
}

export const make = (query: Query, statements: Statements, log: LogQueries): Reads => {
  const decodeBacklog = Schema.decodeUnknown(Rows.BacklogRow)
  const cursorBefore = SqlSchema.findOne({
    Request: Schema.Number,
    Result: Rows.CursorRow,
    execute: (position) => query(statements.selectCursorBefore, [position], "read log")
  })

  return {
    readStream: (aggregateType, aggregateId, afterVersion) =>
      Effect.map(
        query<Rows.EventRow>(statements.selectStream, [aggregateType, aggregateId, afterVersion], "read stream"),
        (rows) => rows.map(Rows.toStored)
      ),
    readState: (aggregateType, aggregateId) =>
      Effect.map(
        query<Rows.StateRow>(statements.selectState, [aggregateType, aggregateId], "read state"),
        (rows) =>
          rows.length === 0
            ? Option.none()
            : Option.some({ version: Dialect.readNumber(rows[0]!.version), state: Dialect.readJson(rows[0]!.state) })
      ),
    readAll: (after, limit, filter) => {
      const q = log.log(after, limit, filter)
      return Effect.map(query<Rows.LogRow>(q.text, q.params, "read log"), (rows) => rows.map(Rows.toLogged))
    },
    readPage: (after, limit, filter) => {
      const q = log.page(after, limit, filter)
      return Effect.map(query<Rows.PageRow>(q.text, q.params, "read log"), (rows) => toPage(rows, after, limit))
    },
    backlog: (after, filter) => {
      const q = log.backlog(after, filter)
      // an aggregate without GROUP BY: always one row
      return Effect.flatMap(query(q.text, q.params, "read backlog"), (rows) =>
        decodeBacklog(rows[0]).pipe(
          Effect.mapBoth({
            onFailure: toDecodeError("read backlog"),
            onSuccess: (row) => ({ count: row.count, oldestOccurredAt: row.oldestOccurredAt ?? undefined })
          })
        ))
    },
    cursorBefore: (position) =>
      Effect.mapBoth(cursorBefore(position), {
        onFailure: toDecodeError("read log"),
        onSuccess: Option.map((cursor) => ({ commitOrder: cursor.commitOrder, position: cursor.position - 1 }))
      })
  }
}
