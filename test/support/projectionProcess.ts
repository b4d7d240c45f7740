/**
 * A relay process on a SQLite file running one version of a projection, for
 * test/integration/ProjectionRebuildKill.test.ts (one deployment of the code: run it with
 * `VERSION=1`, then replace it with `VERSION=2`).
 *
 * The projection, `stock-ledger` on Inventory "StockRestocked" (one partition), writes a ledger
 * row per delivered event into the table of the version it builds (`ledger_v1`, `ledger_v2`),
 * through the delivery's transaction. The ledger has no unique key: an event applied twice shows
 * as two rows. `init` and `drop` record their calls in `projection_calls` (`init 2`, `drop 1`), in
 * the transaction that records the version's step.
 *
 * Environment:
 * - `DB_FILE`: the SQLite file
 * - `VERSION`: the projection's version this code declares
 * - `OWNER`: the relay's owner name in leases
 * - `BATCH_SIZE`: most events per delivery transaction (a build of many transactions)
 * - `LEASE_TTL`: the relay's lease TTL in milliseconds (a restarted process takes the partitions
 *   of a killed one over once they expire)
 *
 * Prints `started <OWNER>` once the relay runs, then runs until killed (SIGTERM/SIGINT close the
 * relay cleanly, releasing its leases).
 *
 * Run: `node --import tsx test/support/projectionProcess.ts` from the repository root.
 */
import { SqlClient } from "@effect/sql"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { Effect, Layer } from "effect"
import { Relay, Subscription } from "effect-ddd"
import { SqlEventStore } from "effect-ddd/sql"
import { Inventory } from "../../examples/http-server/Domain/Inventory.js"
import { runUntilStopped } from "./runUntilStopped.js"

const env = (name: string): string => {
  const value = process.env[name]
  if (value === undefined || value === "") throw new Error(`projectionProcess: ${name} is not set`)
  return value
}

const positive = (name: string): number => {
  const value = Number(env(name))
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new Error(`projectionProcess: ${name} must be a positive integer`)
  }
  return value
}

/** The table of one version. */
const ledgerTable = (version: number) => `ledger_v${version}`

const record = (call: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.zipRight(
      sql`CREATE TABLE IF NOT EXISTS projection_calls (call TEXT NOT NULL)`,
      sql`INSERT INTO projection_calls (call) VALUES (${call})`
    ))

const stockLedger = (version: number) =>
  Subscription.projection({
    name: "stock-ledger",
    version,
    partitions: 1,
    events: [Subscription.on(Inventory, "StockRestocked")],
    init: (target) =>
      Effect.flatMap(SqlClient.SqlClient, (sql) =>
        Effect.zipRight(
          sql`CREATE TABLE IF NOT EXISTS ${sql(ledgerTable(target.version))} (
            event_id TEXT NOT NULL, sku TEXT NOT NULL, quantity INTEGER NOT NULL)`,
          record(`init ${target.version}`)
        )),
    drop: (target) =>
      Effect.flatMap(SqlClient.SqlClient, (sql) =>
        Effect.zipRight(
          sql`DROP TABLE IF EXISTS ${sql(ledgerTable(target.version))}`,
          record(`drop ${target.version}`)
        )),
    handle: (event, envelope, target) =>
      Effect.flatMap(SqlClient.SqlClient, (sql) =>
        sql`INSERT INTO ${sql(ledgerTable(target.version))} (event_id, sku, quantity)
          VALUES (${envelope.eventId}, ${envelope.aggregateId}, ${event.quantity})`)
  })

const owner = env("OWNER")

const Live = Relay.layer({
  subscriptions: [stockLedger(positive("VERSION"))],
  batchSize: positive("BATCH_SIZE"),
  leaseTtl: positive("LEASE_TTL"),
  pollInterval: "50 millis",
  owner
}).pipe(
  Layer.provideMerge(SqlEventStore.layer()),
  Layer.provideMerge(SqliteClient.layer({ filename: env("DB_FILE") }))
)

runUntilStopped("projectionProcess", owner, Live)
