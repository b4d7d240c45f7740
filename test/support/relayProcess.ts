/**
 * A relay process on PostgreSQL, for test/postgres/PgLeaseTakeover.test.ts: an async subscription on
 * Inventory "StockRestocked" (4 partitions) whose handler records each delivery in the same
 * database, through the delivery's transaction: a restock of `<sku>-ledger` by the same quantity.
 * So the ledger is exact only if every event is delivered exactly once, whichever process does it.
 *
 * Environment:
 * - `DATABASE_URL`: the PostgreSQL database
 * - `SUBSCRIPTION`: the subscription's name
 * - `LEASE_TTL`: the relay's lease TTL in milliseconds
 * - `OWNER`: the relay's owner name in leases
 *
 * Prints `started <OWNER>` once the relay runs, then runs until killed (SIGTERM/SIGINT close the
 * relay cleanly, releasing its leases).
 *
 * Run: `node --import tsx test/support/relayProcess.ts` from the repository root.
 */
import { PgClient } from "@effect/sql-pg"
import { Effect, Layer, Redacted } from "effect"
import { CommandHandler, Relay, Subscription } from "effect-ddd"
import { SqlEventStore } from "effect-ddd/sql"
import { PgWakeup } from "effect-ddd/sql/pg"
import { Inventory } from "../../examples/http-server/Domain/Inventory.js"
import { Sku } from "../../examples/http-server/Domain/Order.js"
import { runUntilStopped } from "./runUntilStopped.js"

const env = (name: string): string => {
  const value = process.env[name]
  if (value === undefined || value === "") throw new Error(`relayProcess: ${name} is not set`)
  return value
}

const url = env("DATABASE_URL")
const owner = env("OWNER")
const leaseTtl = Number(env("LEASE_TTL"))

/** The ledger's own restocks are StockRestocked events too: they are not recorded again. */
const isLedger = (sku: string) => sku.endsWith("-ledger")

const ledger = Subscription.make({
  name: env("SUBSCRIPTION"),
  events: [Subscription.on(Inventory, "StockRestocked")],
  partitions: 4,
  handle: (event, envelope) =>
    isLedger(envelope.aggregateId)
      ? Effect.void
      : Effect.asVoid(CommandHandler.execute(Inventory, Sku.make(`${envelope.aggregateId}-ledger`), "restock", {
        quantity: event.quantity
      }))
})

const Live = Relay.layer({ subscriptions: [ledger], leaseTtl, pollInterval: "50 millis", owner }).pipe(
  Layer.provideMerge(CommandHandler.layer()),
  Layer.provideMerge(SqlEventStore.layer()),
  Layer.provideMerge(
    PgWakeup.layer().pipe(Layer.provideMerge(PgClient.layer({ url: Redacted.make(url), maxConnections: 8 })))
  )
)

runUntilStopped("relayProcess", owner, Live)
