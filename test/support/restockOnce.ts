/**
 * One process, one command: restock a SKU with an idempotency key, then exit. Used by
 * test/postgres/SqlRestart.test.ts to check that idempotency records survive a restart.
 *
 * Environment:
 * - `DB_KIND`: "sqlite" | "pg"
 * - `DB_TARGET`: the SQLite file path, or the PostgreSQL URL
 * - `KEY`, `SKU`, `QUANTITY`: the idempotency key, the Inventory id and the restocked quantity
 *
 * Prints one JSON line and exits 0: `{"replayed":bool,"version":n,"available":n,"eventIds":[...]}`,
 * or `{"error":"<_tag>"}` on a typed failure (including a failure to build the layers).
 * A defect exits 1.
 *
 * Run: `node --import tsx test/support/restockOnce.ts` from the repository root.
 */
import type { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { Effect, Layer, Redacted } from "effect"
import { CommandHandler } from "effect-ddd"
import { SqlEventStore } from "effect-ddd/sql"
import { Inventory } from "../../examples/http-server/Domain/Inventory.js"
import { Sku } from "../../examples/http-server/Domain/Order.js"

const env = (name: string): string => {
  const value = process.env[name]
  if (value === undefined || value === "") throw new Error(`restockOnce: ${name} is not set`)
  return value
}

const kind = env("DB_KIND")
const target = env("DB_TARGET")
const key = env("KEY")
const sku = Sku.make(env("SKU"))
const quantity = Number(env("QUANTITY"))

const client: Layer.Layer<SqlClient.SqlClient, unknown> = kind === "pg"
  ? PgClient.layer({ url: Redacted.make(target), maxConnections: 2 })
  : kind === "sqlite"
  ? SqliteClient.layer({ filename: target })
  : (() => {
    throw new Error(`restockOnce: unknown DB_KIND ${JSON.stringify(kind)}`)
  })()

const Live = CommandHandler.layer().pipe(Layer.provide(SqlEventStore.layer()), Layer.provide(client))

const program = CommandHandler.execute(Inventory, sku, "restock", { quantity }, { idempotencyKey: key }).pipe(
  Effect.map((result) =>
    JSON.stringify({
      replayed: result.replayed,
      version: result.version,
      available: result.state.available,
      eventIds: result.events.map((event) => event.eventId)
    })
  ),
  Effect.provide(Live),
  Effect.catchAll((error) =>
    Effect.succeed(JSON.stringify({ error: (error as { readonly _tag?: string })._tag ?? "Unknown" }))
  )
)

Effect.runPromise(program).then(
  (line) => {
    process.stdout.write(`${line}\n`)
  },
  (defect) => {
    process.stderr.write(`restockOnce: defect: ${String(defect)}\n`)
    process.exitCode = 1
  }
)
