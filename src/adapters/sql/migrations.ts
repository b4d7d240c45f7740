/**
 * The library's own tables and migrations, recorded in its own table (`effect_ddd_migrations`),
 * never in the host application's. Safe to run at every start: applied migrations are skipped,
 * and PostgreSQL serializes concurrent runs with a lock on the migrations table.
 *
 * @since 0.1.0
 * @module
 */
import { Migrator, SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import { Effect, Layer } from "effect"
import * as Dialect from "./internal/dialect.js"

/**
 * The name of the table that records the library's applied migrations.
 *
 * @since 0.1.0
 * @category models
 */
export const table = "effect_ddd_migrations"

/**
 * The advisory lock key that serializes migration runs on PostgreSQL: "ddd_mig" read as an integer,
 * as a double rounds it (the key every version has used).
 */
const ADVISORY_LOCK = "28257879931578730"

const statements = (dialect: Dialect.Name): Record<string, ReadonlyArray<string>> => {
  const position = dialect === "pg"
    ? "position BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
    : "position INTEGER PRIMARY KEY AUTOINCREMENT"
  const json = dialect === "pg" ? "JSONB" : "TEXT"
  return {
    "0001_events": [
      `CREATE TABLE effect_ddd_events (
        ${position},
        ${Dialect.commitOrderColumn(dialect)},
        event_id TEXT NOT NULL UNIQUE,
        aggregate_type TEXT NOT NULL,
        aggregate_id TEXT NOT NULL,
        stream_hash INTEGER NOT NULL,
        version INTEGER NOT NULL,
        event_type TEXT NOT NULL,
        schema_version INTEGER NOT NULL,
        payload ${json} NOT NULL,
        metadata ${json} NOT NULL,
        occurred_at BIGINT NOT NULL,
        CONSTRAINT effect_ddd_events_stream UNIQUE (aggregate_type, aggregate_id, version)
      )`,
      // SQLite reads the log by position (its commit order is always 0): the primary key serves
      ...(dialect === "pg" ? [`CREATE INDEX effect_ddd_events_log ON effect_ddd_events (commit_order, position)`] : [])
    ],
    "0002_states": [
      `CREATE TABLE effect_ddd_states (
        aggregate_type TEXT NOT NULL,
        aggregate_id TEXT NOT NULL,
        version INTEGER NOT NULL,
        state ${json} NOT NULL,
        PRIMARY KEY (aggregate_type, aggregate_id)
      )`
    ],
    "0003_idempotency": [
      `CREATE TABLE effect_ddd_idempotency (
        key TEXT PRIMARY KEY,
        fingerprint TEXT NOT NULL,
        aggregate_type TEXT NOT NULL,
        aggregate_id TEXT NOT NULL,
        result ${json} NOT NULL,
        created_at BIGINT NOT NULL
      )`,
      `CREATE INDEX effect_ddd_idempotency_created ON effect_ddd_idempotency (created_at)`
    ],
    // the delivery stores: checkpoints, leases, dead letters, the inbox (internal/deliveryStores.ts)
    "0004_outbox": [
      `CREATE TABLE effect_ddd_checkpoints (
        subscription TEXT NOT NULL,
        partition INTEGER NOT NULL,
        commit_order BIGINT NOT NULL,
        position BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        PRIMARY KEY (subscription, partition)
      )`,
      `CREATE TABLE effect_ddd_leases (
        subscription TEXT NOT NULL,
        partition INTEGER NOT NULL,
        owner TEXT NOT NULL,
        token BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        PRIMARY KEY (subscription, partition)
      )`,
      `CREATE TABLE effect_ddd_dead_letters (
        id TEXT PRIMARY KEY,
        subscription TEXT NOT NULL,
        partition INTEGER NOT NULL,
        kind TEXT NOT NULL,
        event_id TEXT NOT NULL,
        position BIGINT NOT NULL,
        aggregate_type TEXT NOT NULL,
        aggregate_id TEXT NOT NULL,
        version INTEGER NOT NULL,
        event_type TEXT NOT NULL,
        error TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        first_failed_at BIGINT NOT NULL,
        last_failed_at BIGINT NOT NULL,
        status TEXT NOT NULL
      )`,
      `CREATE INDEX effect_ddd_dead_letters_position ON effect_ddd_dead_letters (subscription, partition, position)`,
      `CREATE INDEX effect_ddd_dead_letters_aggregate ON effect_ddd_dead_letters (aggregate_type, aggregate_id)`,
      `CREATE TABLE effect_ddd_inbox (
        consumer TEXT NOT NULL,
        event_id TEXT NOT NULL,
        processed_at BIGINT NOT NULL,
        PRIMARY KEY (consumer, event_id)
      )`
    ],
    // process managers' scheduled messages (internal/deadlines.ts)
    "0005_deadlines": [
      `CREATE TABLE effect_ddd_deadlines (
        process_manager TEXT NOT NULL,
        instance_id TEXT NOT NULL,
        name TEXT NOT NULL,
        due_at BIGINT NOT NULL,
        PRIMARY KEY (process_manager, instance_id, name)
      )`,
      `CREATE INDEX effect_ddd_deadlines_due ON effect_ddd_deadlines (process_manager, due_at)`
    ],
    // the subscriptions relays run, for the CLI (internal/subscriptionRegistry.ts)
    "0006_subscriptions": [
      `CREATE TABLE effect_ddd_subscriptions (
        name TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        partitions INTEGER NOT NULL,
        sources ${json} NOT NULL,
        registered_at BIGINT NOT NULL
      )`
    ],
    // the broker message kept with an integration consumer's dead letter, for its redrive
    "0007_dead_letter_messages": [
      `ALTER TABLE effect_ddd_dead_letters ADD COLUMN message ${json}`
    ],
    // retention: the policy `effect-ddd prune` applies, how far events were pruned per aggregate
    // type (a replay from before fails), and the index the inbox's expiry reads (internal/pruning.ts)
    "0008_retention": [
      `CREATE TABLE effect_ddd_retention (
        name TEXT PRIMARY KEY,
        policy ${json} NOT NULL,
        recorded_at BIGINT NOT NULL
      )`,
      `CREATE TABLE effect_ddd_pruned (
        aggregate_type TEXT PRIMARY KEY,
        commit_order BIGINT NOT NULL,
        position BIGINT NOT NULL,
        pruned_at BIGINT NOT NULL
      )`,
      `CREATE INDEX effect_ddd_inbox_processed ON effect_ddd_inbox (processed_at)`
    ],
    // projections' versions: which one serves reads, which one builds beside it, which were
    // retired (internal/projectionVersions.ts)
    "0009_projections": [
      `CREATE TABLE effect_ddd_projections (
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        subscription TEXT NOT NULL,
        status TEXT NOT NULL,
        detail TEXT,
        rebuild_requested INTEGER NOT NULL DEFAULT 0,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        PRIMARY KEY (name, version)
      )`
    ]
  }
}

/**
 * The names of all migrations, in order (`0001_events`, ...).
 *
 * @since 0.1.0
 * @category models
 */
export const names: ReadonlyArray<string> = Object.keys(statements("sqlite")).sort()

/**
 * The migrations as a loader for `@effect/sql`'s Migrator.
 *
 * @since 0.1.0
 * @category constructors
 */
export const loader: Migrator.Loader<SqlClient.SqlClient> = Migrator.fromRecord(
  Object.fromEntries(
    names.map((name) => [
      name,
      Effect.gen(function*() {
        const sql = (yield* SqlClient.SqlClient).withoutTransforms()
        for (const statement of statements(Dialect.of(sql))[name]!) yield* sql.unsafe(statement)
      })
    ])
  )
)

const migrate = Migrator.make({})({ loader, table })

/**
 * Run the library's pending migrations; returns those applied now as `[id, name]`. Safe when
 * several processes start together on an empty PostgreSQL database: the Migrator locks its table
 * while migrating, but creates that table outside the lock, so the table is created first here,
 * under a transaction-scoped advisory lock (one connection at a time, so it also works on a pool
 * of one).
 *
 * @since 0.1.0
 * @category constructors
 */
export const run = Effect.gen(function*() {
  const sql = (yield* SqlClient.SqlClient).withoutTransforms()
  if (Dialect.of(sql) === "pg") {
    yield* sql.withTransaction(Effect.zipRight(
      sql.unsafe(`SELECT pg_advisory_xact_lock(${ADVISORY_LOCK})`),
      sql.unsafe(`CREATE TABLE IF NOT EXISTS ${table} (
        migration_id integer primary key,
        created_at timestamp with time zone not null default now(),
        name text not null
      )`)
    ))
  }
  return yield* migrate
})

/**
 * The names of the migrations not applied yet (all of them on a database the library never
 * migrated), without applying any.
 *
 * @since 0.1.0
 * @category constructors
 */
export const pending: Effect.Effect<ReadonlyArray<string>, SqlError, SqlClient.SqlClient> = Effect.gen(function*() {
  const sql = (yield* SqlClient.SqlClient).withoutTransforms()
  const exists = yield* sql.onDialectOrElse({
    pg: () => sql.unsafe<{ found: string | null }>(`SELECT to_regclass('${table}')::text AS found`),
    orElse: () =>
      sql.unsafe<{ found: string | null }>(
        `SELECT name AS found FROM sqlite_master WHERE type = 'table' AND name = '${table}'`
      )
  })
  if (exists.length === 0 || exists[0]!.found === null) return names
  const applied = new Set(
    (yield* sql.unsafe<{ migration_id: number | string }>(`SELECT migration_id FROM ${table}`)).map((row) =>
      Number(row.migration_id)
    )
  )
  return names.filter((name) => !applied.has(Number(name.slice(0, name.indexOf("_")))))
})

/**
 * Runs the migrations when the layer is built.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<never, Migrator.MigrationError | SqlError, SqlClient.SqlClient> = Layer.effectDiscard(
  run
)
