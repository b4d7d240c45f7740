/**
 * The library's migrations on PostgreSQL: recorded in its own table, idempotent, and safe when
 * several processes start at once on the same (fresh) database.
 */
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import { Migrations } from "effect-ddd/sql"
import { freshDatabase } from "../support/database.js"

const client = (url: string) => PgClient.layer({ url: Redacted.make(url), maxConnections: 2 })

/** What the migrations table records, and whether the host's default table exists. */
const recorded = Effect.gen(function*() {
  const sql = (yield* SqlClient.SqlClient).withoutTransforms()
  const applied = yield* sql<{ migration_id: number; name: string }>`
    SELECT migration_id, name FROM effect_ddd_migrations ORDER BY migration_id`
  const [tables] = yield* sql<{ host: string | null; own: string | null }>`
    SELECT to_regclass('effect_sql_migrations')::text AS host, to_regclass('effect_ddd_migrations')::text AS own`
  const libraryTables = yield* sql<{ table_name: string }>`
    SELECT table_name FROM information_schema.tables
    WHERE table_schema = 'public' AND table_name LIKE 'effect\\_%' ORDER BY table_name`
  return {
    applied: applied.map((row) => [Number(row.migration_id), row.name] as const),
    hostTable: tables!.host,
    ownTable: tables!.own,
    tables: libraryTables.map((row) => row.table_name)
  }
})

const expectedApplied = Migrations.names.map((name) => {
  const [, id, rest] = name.match(/^(\d+)_(.+)$/)!
  return [Number(id), rest!] as const
})

const expectedTables = [
  "effect_ddd_checkpoints",
  "effect_ddd_dead_letters",
  "effect_ddd_deadlines",
  "effect_ddd_events",
  "effect_ddd_idempotency",
  "effect_ddd_inbox",
  "effect_ddd_leases",
  "effect_ddd_migrations",
  "effect_ddd_projections",
  "effect_ddd_pruned",
  "effect_ddd_retention",
  "effect_ddd_states",
  "effect_ddd_subscriptions"
]

describe("PostgreSQL migrations", () => {
  it.live("apply every migration once, in the library's own table; a second run applies nothing", () =>
    Effect.gen(function*() {
      const url = yield* Effect.promise(() => freshDatabase("migrations"))
      yield* Effect.gen(function*() {
        const first = yield* Migrations.run
        expect(first).toEqual(expectedApplied)
        expect(Migrations.names).toEqual([
          "0001_events",
          "0002_states",
          "0003_idempotency",
          "0004_outbox",
          "0005_deadlines",
          "0006_subscriptions",
          "0007_dead_letter_messages",
          "0008_retention",
          "0009_projections"
        ])

        const state = yield* recorded
        // compared like test/integration/SqliteEventStore.test.ts: the recorded names drop the numeric prefix
        expect(state.applied.map(([, name]) => name)).toEqual(Migrations.names.map((n) => n.replace(/^\d+_/, "")))
        expect(state.applied).toEqual(expectedApplied)
        expect(state.hostTable).toBeNull()
        expect(state.ownTable).toBe(Migrations.table)
        expect(state.tables).toEqual(expectedTables)

        // safe to run again
        expect(yield* Migrations.run).toEqual([])
        expect((yield* recorded).applied).toEqual(expectedApplied)
      }).pipe(Effect.provide(client(url)))
    }))

  /** Connects 4 separate pools first, then starts `Migrations.run` on all of them at once. */
  const runConcurrently = (url: string) =>
    Effect.gen(function*() {
      const contexts = yield* Effect.all(Array.from({ length: 4 }, () => Layer.build(client(url))), {
        concurrency: "unbounded"
      })
      return yield* Effect.all(contexts.map((context) => Effect.provide(Migrations.run, context)), {
        concurrency: "unbounded"
      })
    }).pipe(Effect.scoped)

  // Known failure (bug in src/adapters/sql/migrations.ts, via @effect/sql's Migrator): on PostgreSQL the
  // Migrator creates its table with `select 'table'::regclass`, then a plain `CREATE TABLE`, before
  // and outside the transaction that takes the table lock. Concurrent first runs all see no table,
  // all create it, and all but one fail (23505 on pg_type_typname_nsp_index, or 42P07).
  it.live("4 processes (separate pools) migrating a fresh database at once: all succeed, each migration applied once", () =>
    Effect.gen(function*() {
      const url = yield* Effect.promise(() => freshDatabase("migrations_concurrent"))
      const results = yield* runConcurrently(url)
      // exactly one run applied the migrations; the others found them applied
      expect(results.flat()).toEqual(expectedApplied)
      expect(results.filter((applied) => applied.length > 0)).toHaveLength(1)

      const state = yield* Effect.provide(recorded, client(url))
      expect(state.applied).toEqual(expectedApplied)
      expect(state.hostTable).toBeNull()
      expect(state.tables).toEqual(expectedTables)
    }))

  it.live("4 processes at once once the migrations table exists (none applied yet): the table lock serializes them", () =>
    Effect.gen(function*() {
      const url = yield* Effect.promise(() => freshDatabase("migrations_locked"))
      // the table @effect/sql's Migrator creates, as it creates it
      yield* Effect.provide(
        Effect.flatMap(SqlClient.SqlClient, (sql) =>
          sql`CREATE TABLE effect_ddd_migrations (
            migration_id integer primary key,
            created_at timestamp with time zone not null default now(),
            name text not null
          )`),
        client(url)
      )
      const results = yield* runConcurrently(url)
      expect(results.flat()).toEqual(expectedApplied)
      expect(results.filter((applied) => applied.length > 0)).toHaveLength(1)
      const state = yield* Effect.provide(recorded, client(url))
      expect(state.applied).toEqual(expectedApplied)
      expect(state.tables).toEqual(expectedTables)
    }))
})
