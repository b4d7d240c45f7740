/**
 * The stock-level read model of the projection contract as SQL tables, written through the
 * ambient transaction (so its writes commit with the relay's checkpoint).
 */
import { SqlClient } from "@effect/sql"
import { Effect, Option } from "effect"
import type { ReadModel, Row } from "../contracts/ProjectionContract.js"

export const sqlReadModel: Effect.Effect<ReadModel, never, SqlClient.SqlClient> = Effect.map(
  SqlClient.SqlClient,
  (sql) => ({
    create: (table) =>
      sql`CREATE TABLE IF NOT EXISTS ${
        sql(table)
      } (sku TEXT PRIMARY KEY, total INTEGER NOT NULL, applied INTEGER NOT NULL)`,
    drop: (table) => sql`DROP TABLE IF EXISTS ${sql(table)}`,
    add: (table, sku, quantity) =>
      sql`INSERT INTO ${sql(table)} (sku, total, applied) VALUES (${sku}, ${quantity}, 1)
        ON CONFLICT (sku) DO UPDATE SET total = ${sql(table)}.total + ${quantity}, applied = ${sql(table)}.applied + 1`,
    // the catalog first: SQLite's client caches a failed prepare (no such table) for minutes
    rows: (table) =>
      Effect.gen(function*() {
        const found = yield* sql.onDialectOrElse({
          pg: () => sql<{ found: string | null }>`SELECT to_regclass(${table})::text AS found`,
          orElse: () => sql<{ found: string | null }>`SELECT name AS found FROM sqlite_master WHERE name = ${table}`
        })
        if (found.length === 0 || found[0]!.found === null) return Option.none()
        const rows = yield* sql<Row>`SELECT sku, total, applied FROM ${sql(table)} ORDER BY sku`
        return Option.some(rows.map((r) => ({ sku: r.sku, total: Number(r.total), applied: Number(r.applied) })))
      })
  })
)
