/**
 * Named prepared statements on PostgreSQL. With `@effect/sql-pg` (node-postgres), the store and
 * the outbox send each of their statements as a named prepared statement: PostgreSQL parses and
 * plans it once per connection, not on every run. On a command (read the state row, append), the
 * unnamed statements cost the server about 40% more CPU.
 *
 * Turn them off where the connection is not the session's own, e.g. behind a PgBouncer in
 * transaction mode older than 1.21 (which cannot track prepared statements):
 *
 * ```ts
 * SqlEventStore.layer().pipe(Layer.provide(Layer.succeed(PreparedStatements.Enabled, false)))
 * ```
 *
 * Other drivers and SQLite (whose driver caches its prepared statements itself) get the text.
 *
 * @since 0.1.0
 * @module
 */
import type { SqlClient } from "@effect/sql"
import { Context, Effect } from "effect"
import * as EffectSql from "./internal/effectSql.js"

/**
 * Whether the SQL store and outbox use named prepared statements where the driver allows them
 * (default true).
 *
 * @since 0.1.0
 * @category tags
 */
export class Enabled extends Context.Reference<Enabled>()("effect-ddd/sql/PreparedStatements/Enabled", {
  defaultValue: () => true
}) {}

/** How a statement's text is handed to a connection's `execute`. */
export type Prepare = (text: string) => string

/** Most distinct statements named per process (dynamic texts beyond this run unnamed). */
const MOST_NAMED = 1000

const names = new Map<string, string>()

/**
 * The statement named: the same text has the same name on every connection; node-postgres parses
 * it on a connection's first use and binds it afterwards.
 */
const named: Prepare = (text) => {
  let name = names.get(text)
  if (name === undefined) {
    if (names.size >= MOST_NAMED) return text
    name = `effect_ddd_${names.size + 1}`
    names.set(text, name)
  }
  return EffectSql.namedStatement(name, text)
}

const asText: Prepare = (text) => text

/**
 * How the statements of a store on `sql` are handed to its connections.
 *
 * @internal
 */
export const of = (sql: SqlClient.SqlClient): Effect.Effect<Prepare> =>
  Effect.map(Enabled, (enabled) => (enabled && EffectSql.isPgClient(sql) ? named : asText))
