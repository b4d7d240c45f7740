import { SqlClient } from "@effect/sql"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { Migrations, SqlEventStore } from "effect-ddd/sql"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { suite } from "../contracts/DeliveryStoresContract.js"
import { pgClient } from "../support/pg.js"

const tempFile = () => join(mkdtempSync(join(tmpdir(), "effect-ddd-")), "outbox.db")

/** The delivery stores and the event store whose transactions they join, on one client. */
const stores = <E>(client: Layer.Layer<SqlClient.SqlClient, E>) => SqlEventStore.layer().pipe(Layer.provide(client))

suite("SQLite", stores(SqliteClient.layer({ filename: tempFile() })))
suite("PostgreSQL", stores(pgClient("outbox")))

describe("SQL delivery stores' migrations", () => {
  it.effect("0005_deadlines, 0006_subscriptions and 0007_dead_letter_messages come before 0008_retention and 0009_projections and create their tables; pending lists what is not applied", () =>
    Effect.gen(function*() {
      expect(Migrations.names.slice(-5, -2)).toEqual([
        "0005_deadlines",
        "0006_subscriptions",
        "0007_dead_letter_messages"
      ])
      expect(yield* Migrations.pending).toEqual(Migrations.names)
      yield* Migrations.run
      expect(yield* Migrations.pending).toEqual([])
      const sql = yield* SqlClient.SqlClient
      const tables = yield* sql<{ name: string }>`
        SELECT name FROM sqlite_master WHERE type = 'table' AND name IN
        ('effect_ddd_checkpoints', 'effect_ddd_leases', 'effect_ddd_dead_letters', 'effect_ddd_inbox',
        'effect_ddd_deadlines', 'effect_ddd_subscriptions') ORDER BY name`
      expect(tables.map((t) => t.name)).toEqual([
        "effect_ddd_checkpoints",
        "effect_ddd_dead_letters",
        "effect_ddd_deadlines",
        "effect_ddd_inbox",
        "effect_ddd_leases",
        "effect_ddd_subscriptions"
      ])
      const applied = yield* sql<{ name: string }>`SELECT name FROM effect_ddd_migrations ORDER BY migration_id`
      expect(applied.map((r) => r.name).slice(-5, -2)).toEqual(["deadlines", "subscriptions", "dead_letter_messages"])
      // a migration recorded as not applied is pending again
      yield* sql`DELETE FROM effect_ddd_migrations WHERE migration_id = 7`
      expect(yield* Migrations.pending).toEqual(["0007_dead_letter_messages"])
    }).pipe(Effect.provide(SqliteClient.layer({ filename: tempFile() }))))
})
