/**
 * A service's own tables (read models, the mail outbox), each declared by the module that owns
 * it and created when the service starts, on SQLite and PostgreSQL alike.
 */
import { SqlClient } from "@effect/sql"
import { Effect, Layer } from "effect"

/** The statements creating a module's tables, each idempotent (`CREATE TABLE IF NOT EXISTS`). */
export type Tables = ReadonlyArray<string>

/** Creates the tables, in order, before the service starts. */
export const layer = (tables: ReadonlyArray<Tables>) =>
  Layer.effectDiscard(Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    for (const statement of tables.flat()) yield* sql.unsafe(statement)
  }))
