/**
 * Idempotency records are stored in the database, not in the process: a command repeated by a new
 * process (after a restart) with the same key is replayed, not executed again.
 *
 * Each run is a separate Node.js process (test/support/restockOnce.ts) on the same database.
 */
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, type Layer, Redacted } from "effect"
import { execFile } from "node:child_process"
import { randomUUID } from "node:crypto"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { freshDatabase } from "../support/database.js"

const root = fileURLToPath(new URL("../..", import.meta.url))

type Outcome =
  | {
    readonly replayed: boolean
    readonly version: number
    readonly available: number
    readonly eventIds: ReadonlyArray<string>
  }
  | { readonly error: string }

/** Runs test/support/restockOnce.ts in a new process and parses the JSON line it prints. */
const restockOnce = (
  env: { DB_KIND: "sqlite" | "pg"; DB_TARGET: string; KEY: string; SKU: string; QUANTITY: number }
) =>
  Effect.async<Outcome, Error>((resume) => {
    const child = execFile(
      process.execPath,
      ["--import", "tsx", "test/support/restockOnce.ts"],
      {
        cwd: root,
        encoding: "utf8",
        timeout: 60_000,
        env: { ...process.env, ...env, QUANTITY: String(env.QUANTITY) }
      },
      (error, stdout, stderr) => {
        if (error !== null) {
          resume(Effect.fail(new Error(`restockOnce failed (${error.message}):\n${stderr}`)))
          return
        }
        const lines = stdout.trim().split("\n")
        resume(Effect.try({
          try: () => JSON.parse(lines[lines.length - 1]!) as Outcome,
          catch: () => new Error(`restockOnce printed no JSON line:\n${stdout}\n${stderr}`)
        }))
      }
    )
    return Effect.sync(() => child.kill())
  })

const scenario = (
  kind: "sqlite" | "pg",
  target: Effect.Effect<string>,
  client: (target: string) => Layer.Layer<SqlClient.SqlClient, unknown>
) =>
  Effect.gen(function*() {
    const DB_TARGET = yield* target
    const KEY = `restock-${randomUUID()}`
    const SKU = `sku-${randomUUID()}`
    const run = (QUANTITY: number) => restockOnce({ DB_KIND: kind, DB_TARGET, KEY, SKU, QUANTITY })

    const first = yield* run(5)
    expect(first).toMatchObject({ replayed: false, version: 1, available: 5 })
    const firstIds = (first as { eventIds: ReadonlyArray<string> }).eventIds
    expect(firstIds).toHaveLength(1)

    // a new process, same key and same request: the stored result, nothing executed
    const second = yield* run(5)
    expect(second).toEqual({ replayed: true, version: 1, available: 5, eventIds: firstIds })

    // a new process, same key, another request: refused
    const third = yield* run(7)
    expect(third).toEqual({ error: "IdempotencyKeyReused" })

    // exactly one event and one idempotency record for that SKU/key, as seen by this process
    const stored = yield* Effect.gen(function*() {
      const sql = (yield* SqlClient.SqlClient).withoutTransforms()
      const events = yield* sql<{ event_id: string; version: number | string }>`
        SELECT event_id, version FROM effect_ddd_events WHERE aggregate_type = 'Inventory' AND aggregate_id = ${SKU}`
      const records = yield* sql<{ key: string }>`SELECT key FROM effect_ddd_idempotency WHERE key = ${KEY}`
      const states = yield* sql<{ version: number | string }>`
        SELECT version FROM effect_ddd_states WHERE aggregate_type = 'Inventory' AND aggregate_id = ${SKU}`
      return {
        events: events.map((row) => [row.event_id, Number(row.version)]),
        records: records.length,
        states: states.map((row) => Number(row.version))
      }
    }).pipe(Effect.provide(client(DB_TARGET)))
    expect(stored).toEqual({ events: [[firstIds[0], 1]], records: 1, states: [1] })
  })

describe.concurrent("Idempotency keys survive a restart (new process, same database)", () => {
  it.live("SQLite", () =>
    scenario(
      "sqlite",
      Effect.sync(() => join(mkdtempSync(join(tmpdir(), "effect-ddd-restart-")), "restart.db")),
      (filename) => SqliteClient.layer({ filename })
    ), 120_000)

  it.live("PostgreSQL", () =>
    scenario(
      "pg",
      Effect.promise(() => freshDatabase("restart")),
      (url) => PgClient.layer({ url: Redacted.make(url), maxConnections: 2 })
    ), 120_000)
})
