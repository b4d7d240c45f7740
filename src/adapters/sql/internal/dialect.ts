/**
 * Everything that differs between SQLite and PostgreSQL, in one place: column types, JSON
 * handling, placeholders, error codes and the commit-safe read of the event log.
 */
import type { SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import { errorCode } from "./effectSql.js"

export type Name = "pg" | "sqlite"

export const of = (sql: SqlClient.SqlClient): Name => sql.onDialectOrElse({ pg: () => "pg", orElse: () => "sqlite" })

/** The n-th (1-based) bind parameter. */
export const param = (dialect: Name, n: number): string => (dialect === "pg" ? `$${n}` : "?")

/** A bind parameter holding JSON text. */
export const jsonParam = (dialect: Name, n: number): string => (dialect === "pg" ? `$${n}::jsonb` : "?")

/** A JSON column as the driver returns it (parsed by node-postgres, text in SQLite). */
export const readJson = (value: unknown): unknown => (typeof value === "string" ? JSON.parse(value) : value)

/** BIGINT columns come back as strings from node-postgres. */
export const readNumber = (value: unknown): number => (typeof value === "number" ? value : Number(value))

/** A unique or primary key violation. */
export const isUniqueViolation = (error: SqlError): boolean => {
  const code = errorCode(error)
  return code === "23505" || code === "SQLITE_CONSTRAINT_PRIMARYKEY" || code === "SQLITE_CONSTRAINT_UNIQUE"
}

/** The database cannot be reached or is busy (SQLite's extended codes included): worth retrying later. */
export const isUnavailable = (error: SqlError): boolean => {
  const code = errorCode(error)
  if (code === undefined) return /connect|terminat|timeout|closed|ECONN/i.test(String(error.cause ?? error.message))
  return code.startsWith("08") || code === "57P01" || code === "57P02" || code === "57P03" || code === "53300" ||
    code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED") || code === "ECONNREFUSED" ||
    code === "ECONNRESET" ||
    code === "ETIMEDOUT" || code === "EPIPE"
}

/** A failure that goes away when the transaction is run again (deadlock, serialization failure). */
export const isTransient = (error: SqlError): boolean => {
  const code = errorCode(error)
  return code === "40001" || code === "40P01"
}

export const isConstraint = (error: SqlError): boolean => {
  const code = errorCode(error)
  return code !== undefined && (code.startsWith("23") || code.startsWith("SQLITE_CONSTRAINT"))
}

/**
 * The commit order of an event row. PostgreSQL assigns positions when rows are inserted, not when
 * they commit, so a reader that follows positions alone can skip a row that commits late. Each row
 * records `greatest(own transaction id, xmax of the statement's snapshot)`: a row written after
 * another one committed gets a commit order at least as high, and every row whose commit order is
 * below the oldest running transaction (`pg_snapshot_xmin`) has committed or never will. Readers
 * order by (commit order, position) and stop below that horizon. SQLite has one writer at a time,
 * so positions commit in order and the commit order is always 0.
 */
export const commitOrderColumn = (dialect: Name): string =>
  dialect === "pg"
    ? `commit_order BIGINT NOT NULL DEFAULT ((GREATEST(pg_current_xact_id(), pg_snapshot_xmax(pg_current_snapshot())))::text::bigint)`
    : `commit_order INTEGER NOT NULL DEFAULT 0`

/** Only rows every reader will see forever in this order. */
export const safeHorizon = (dialect: Name): string =>
  dialect === "pg" ? `commit_order < (pg_snapshot_xmin(pg_current_snapshot()))::text::bigint` : "1 = 1"
