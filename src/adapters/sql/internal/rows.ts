/**
 * The rows of the event store's tables, each shape defined once, as a schema: the columns a query
 * selects and the types of its rows derive from it. Rows read once in a while (idempotency
 * records, the backlog, a cursor) are decoded by their schema. Rows read on every command or by
 * the thousand in a relay's drain (events, state rows) are read by hand from the same shape:
 * a schema decode costs microseconds per row there (`test/unit/SqlRows.test.ts` checks that both
 * readings agree).
 *
 * node-postgres returns BIGINT columns as strings and JSONB columns parsed; SQLite returns
 * numbers and JSON text. `Int` and `JsonColumn` accept both.
 */
import { ParseResult, Schema, SchemaAST } from "effect"
import type * as DomainEvent from "../../../core/DomainEvent.js"
import type { LogCursor, LoggedEvent } from "../../../ports/EventStore.js"
import * as Dialect from "./dialect.js"

/** An integer column: a number, or a string from node-postgres (BIGINT). */
export const Int = Schema.Union(Schema.Number, Schema.NumberFromString)

/** A JSON column: parsed by node-postgres (JSONB), text in SQLite. */
export const JsonColumn = Schema.transformOrFail(Schema.Unknown, Schema.Unknown, {
  strict: true,
  decode: (value, _, ast) =>
    ParseResult.try({
      try: () => Dialect.readJson(value),
      catch: (error) => new ParseResult.Type(ast, value, `invalid JSON: ${String(error)}`)
    }),
  encode: ParseResult.succeed
})

/** The columns of a row schema (its encoded side's fields), for a `SELECT`. */
const columnsOf = (schema: Schema.Schema.Any): string =>
  SchemaAST.getPropertySignatures(Schema.encodedSchema(schema).ast).map((field) => String(field.name)).join(", ")

// --- effect_ddd_events -------------------------------------------------------------------------

/** A row of `effect_ddd_events`, as the store reads it. */
export const EventRow = Schema.Struct({
  position: Int,
  event_id: Schema.String,
  aggregate_type: Schema.String,
  aggregate_id: Schema.String,
  version: Int,
  event_type: Schema.String,
  schema_version: Int,
  payload: JsonColumn,
  metadata: JsonColumn,
  occurred_at: Int
})
export type EventRow = typeof EventRow.Encoded

/** The columns of `EventRow`, for a `SELECT`. */
export const EVENT_COLUMNS = columnsOf(EventRow)

/** An event row of the log: with its commit order (always 0 on SQLite). */
export const LogRow = Schema.Struct({ commit_order: Int, ...EventRow.fields })
export type LogRow = typeof LogRow.Encoded

/** Each field of `fields`, or null (the columns of a `LEFT JOIN` that matched nothing). */
const orNull = <Fields extends Record<string, Schema.Schema.Any>>(fields: Fields) =>
  Object.fromEntries(Object.entries(fields).map(([name, schema]) => [name, Schema.NullOr(schema)])) as {
    readonly [K in keyof Fields]: Schema.NullOr<Fields[K]>
  }

/**
 * A row of the page query: the last event the read could see (nulls when it saw none), whether
 * events wait above the safe horizon (PostgreSQL), and an event of the page (nulls when the page
 * is empty).
 */
export const PageRow = Schema.Struct({
  seen_commit_order: Schema.NullOr(Int),
  seen_position: Schema.NullOr(Int),
  held_back: Schema.optional(Schema.Boolean),
  ...orNull(LogRow.fields)
})
export type PageRow = typeof PageRow.Encoded

/** An event row as the port's stored event. */
export const toStored = (row: EventRow): DomainEvent.Stored => ({
  position: Dialect.readNumber(row.position),
  eventId: row.event_id,
  aggregateType: row.aggregate_type,
  aggregateId: row.aggregate_id,
  version: Dialect.readNumber(row.version),
  eventType: row.event_type,
  schemaVersion: Dialect.readNumber(row.schema_version),
  payload: Dialect.readJson(row.payload),
  metadata: Dialect.readJson(row.metadata) as DomainEvent.Metadata,
  occurredAt: Dialect.readNumber(row.occurred_at)
})

/**
 * A log row as a `LoggedEvent`: made by a constructor, not an object literal. V8 moves an object
 * literal's allocation site to the old generation once it sees most of its objects survive a
 * collection, which a batch being delivered does; every event of a drain was then born old and
 * died there, one full collection per ~100 MB.
 */
class LoggedRow implements LoggedEvent {
  readonly position: number
  readonly eventId: string
  readonly aggregateType: string
  readonly aggregateId: string
  readonly version: number
  readonly eventType: string
  readonly schemaVersion: number
  readonly payload: unknown
  readonly metadata: DomainEvent.Metadata
  readonly occurredAt: number
  readonly commitOrder: number
  constructor(row: LogRow) {
    this.position = Dialect.readNumber(row.position)
    this.eventId = row.event_id
    this.aggregateType = row.aggregate_type
    this.aggregateId = row.aggregate_id
    this.version = Dialect.readNumber(row.version)
    this.eventType = row.event_type
    this.schemaVersion = Dialect.readNumber(row.schema_version)
    this.payload = Dialect.readJson(row.payload)
    this.metadata = Dialect.readJson(row.metadata) as DomainEvent.Metadata
    this.occurredAt = Dialect.readNumber(row.occurred_at)
    this.commitOrder = Dialect.readNumber(row.commit_order)
  }
}

/** A log row as the port's logged event. */
export const toLogged = (row: LogRow): LoggedEvent => new LoggedRow(row)

/** A row returned by an insert of events: where each version landed. */
export const InsertedRow = Schema.Struct({ position: Int, version: Int })
export type InsertedRow = typeof InsertedRow.Encoded

// --- effect_ddd_states -------------------------------------------------------------------------

/** A row of `effect_ddd_states`, as the store reads it. */
export const StateRow = Schema.Struct({ version: Int, state: JsonColumn })
export type StateRow = typeof StateRow.Encoded

/** The columns of `StateRow`, for a `SELECT`. */
export const STATE_COLUMNS = columnsOf(StateRow)

// --- rows read once in a while, decoded by their schema -----------------------------------------

/** A row of `effect_ddd_idempotency`, decoded as the port's record. */
export const IdempotencyRow = Schema.Struct({
  key: Schema.String,
  fingerprint: Schema.String,
  aggregateType: Schema.propertySignature(Schema.String).pipe(Schema.fromKey("aggregate_type")),
  aggregateId: Schema.propertySignature(Schema.String).pipe(Schema.fromKey("aggregate_id")),
  result: JsonColumn,
  createdAt: Schema.propertySignature(Int).pipe(Schema.fromKey("created_at"))
})

/** The columns of `IdempotencyRow`, for a `SELECT`. */
export const IDEMPOTENCY_COLUMNS = columnsOf(IdempotencyRow)

/** The events after a cursor: how many, and when the oldest of them occurred. */
export const BacklogRow = Schema.Struct({
  count: Int,
  oldestOccurredAt: Schema.propertySignature(Schema.NullOr(Int)).pipe(Schema.fromKey("oldest"))
})

/** A position in the log's order. */
export const CursorRow: Schema.Schema<
  LogCursor,
  { readonly commit_order: number | string; readonly position: number | string }
> = Schema.Struct({
  commitOrder: Schema.propertySignature(Int).pipe(Schema.fromKey("commit_order")),
  position: Int
})
