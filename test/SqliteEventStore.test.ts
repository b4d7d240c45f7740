import { SqlClient } from "@effect/sql"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { Migrations, SqlEventStore } from "effect-ddd/sql"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { suite } from "./contracts/EventStoreContract.js"

const tempFile = () => join(mkdtempSync(join(tmpdir(), "effect-ddd-")), "test.db")

const Sqlite = SqliteClient.layer({ filename: tempFile() })

suite("SQLite", SqlEventStore.layer().pipe(Layer.provide(Sqlite)))

describe("SQLite specifics", () => {
  it.effect("the file is in WAL mode and every migration ran, in the library's own table", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* Migrations.run
      const [mode] = yield* sql<{ journal_mode: string }>`PRAGMA journal_mode`
      expect(mode!.journal_mode).toBe("wal")
      const applied = yield* sql<{ name: string }>`SELECT name FROM effect_ddd_migrations ORDER BY migration_id`
      expect(applied.map((r) => r.name)).toEqual(Migrations.names.map((n) => n.replace(/^\d+_/, "")))
      expect(Migrations.names.length).toBe(6)
      const hostTable = yield* sql`SELECT name FROM sqlite_master WHERE name = 'effect_sql_migrations'`
      expect(hostTable).toEqual([])
      // safe to run again
      expect(yield* Migrations.run).toEqual([])
    }).pipe(Effect.provide(SqliteClient.layer({ filename: tempFile() }))))
})
