/**
 * An application the CLI tests operate (test/contracts/CliContract.ts): a relay process on SQLite or
 * PostgreSQL running two subscriptions over Inventory "StockRestocked" events, 2 partitions each:
 *
 * - `stock-levels`, a projection: records each delivery in `cli_deliveries` (event id, position),
 *   in the delivery's transaction, so a replay shows as a second row per replayed event;
 * - `audit`, a handler: fails for SKUs starting with `broken-` unless `cli_fixed` holds the SKU
 *   (tests "fix" it with an insert), so it dead-letters, parks, and can be redriven.
 *
 * Environment: `DB_KIND` ("sqlite" | "pg"), `DB_TARGET` (file or URL), `OWNER` (the relay's name).
 * Prints `started <OWNER>` once the relay runs; SIGTERM/SIGINT stop it cleanly (leases released).
 *
 * Run: `node --import tsx test/support/cliApp.ts` from the repository root.
 */
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { Effect, Layer, Redacted, Schedule } from "effect"
import { CommandHandler, Relay, Subscription } from "effect-ddd"
import { SqlEventStore } from "effect-ddd/sql"
import { PgWakeup } from "effect-ddd/sql/pg"
import { Inventory } from "../../examples/http-server/Domain/Inventory.js"
import { runUntilStopped } from "./runUntilStopped.js"

const env = (name: string): string => {
  const value = process.env[name]
  if (value === undefined || value === "") throw new Error(`cliApp: ${name} is not set`)
  return value
}

const kind = env("DB_KIND")
const target = env("DB_TARGET")
const owner = env("OWNER")

export const stockLevels = Subscription.projection({
  name: "stock-levels",
  events: [Subscription.on(Inventory, "StockRestocked")],
  partitions: 2,
  handle: (_, envelope) =>
    Effect.flatMap(
      SqlClient.SqlClient,
      (sql) => sql`INSERT INTO cli_deliveries (event_id, position) VALUES (${envelope.eventId}, ${envelope.position})`
    )
})

export const audit = Subscription.make({
  name: "audit",
  events: [Subscription.on(Inventory, "StockRestocked")],
  partitions: 2,
  retry: Schedule.spaced("10 millis").pipe(Schedule.intersect(Schedule.recurs(1))),
  handle: (event) =>
    event.sku.startsWith("broken-")
      ? Effect.flatMap(SqlClient.SqlClient, (sql) =>
        Effect.flatMap(sql<{ sku: string }>`SELECT sku FROM cli_fixed WHERE sku = ${event.sku}`, (rows) =>
          rows.length === 0 ? Effect.fail(new Error(`cannot audit ${event.sku}`)) : Effect.void))
      : Effect.void
})

const client: Layer.Layer<SqlClient.SqlClient, unknown> = kind === "pg"
  ? PgWakeup.layer().pipe(Layer.provideMerge(PgClient.layer({ url: Redacted.make(target), maxConnections: 4 })))
  : SqliteClient.layer({ filename: target })

/** The application's own tables, there before the relay delivers. */
const Tables = Layer.effectDiscard(Effect.flatMap(SqlClient.SqlClient, (sql) =>
  Effect.zipRight(
    sql`CREATE TABLE IF NOT EXISTS cli_deliveries (event_id TEXT NOT NULL, position BIGINT NOT NULL)`,
    sql`CREATE TABLE IF NOT EXISTS cli_fixed (sku TEXT PRIMARY KEY)`
  )))

const Live = Relay.layer({
  subscriptions: [stockLevels, audit],
  owner,
  pollInterval: "100 millis",
  // long enough that a busy machine never lets a live relay's lease lapse (the tests stop the
  // application with SIGTERM, which releases its leases)
  leaseTtl: "10 seconds"
}).pipe(
  Layer.provideMerge(CommandHandler.layer()),
  Layer.provideMerge(SqlEventStore.layer()),
  Layer.provideMerge(Tables),
  Layer.provideMerge(client)
)

runUntilStopped("cliApp", owner, Live)
