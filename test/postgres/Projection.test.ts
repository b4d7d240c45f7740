/**
 * A projection keeps a read model in the same database: its writes commit with the relay's
 * checkpoint, so each event is applied exactly once, also when the relay restarts.
 */
import { SqlClient } from "@effect/sql"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Schedule } from "effect"
import { CommandHandler, Relay, Subscription } from "effect-ddd"
import { SqlEventStore } from "effect-ddd/sql"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Order, OrderId, Sku } from "../../examples/http-server/Domain/Order.js"
import { pgClient } from "../support/pg.js"

const orderSummaries = Subscription.projection({
  name: "order-summaries",
  events: [Subscription.on(Order)],
  partitions: 2,
  handle: (event, envelope) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const status = event._tag === "OrderPlaced"
        ? "pending"
        : event._tag === "OrderConfirmed"
        ? "confirmed"
        : event._tag === "OrderRejected"
        ? "rejected"
        : "cancelled"
      yield* sql`INSERT INTO order_summaries (order_id, status, applied) VALUES (${envelope.aggregateId}, ${status}, 1)
        ON CONFLICT (order_id) DO UPDATE SET status = ${status}, applied = order_summaries.applied + 1`
    })
})

const eventually = <A, E, R>(check: Effect.Effect<A, E, R>) =>
  Effect.retry(check, Schedule.spaced("20 millis").pipe(Schedule.upTo("30 seconds")))

const scenario = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE order_summaries (order_id TEXT PRIMARY KEY, status TEXT NOT NULL, applied INTEGER NOT NULL)`
  const lines = [{ sku: Sku.make("apple"), quantity: 1 }]
  const ids = Array.from({ length: 20 }, (_, i) => OrderId.make(`order-${i}`))
  const runRelay = <A, E, R>(use: Effect.Effect<A, E, R>) =>
    Effect.scoped(
      Effect.zipRight(Layer.build(Relay.layer({ subscriptions: [orderSummaries], pollInterval: "20 millis" })), use)
    )
  // first run: half of the history, then the relay stops
  for (const id of ids.slice(0, 10)) yield* CommandHandler.execute(Order, id, "place", { customerId: "c", lines })
  yield* runRelay(
    eventually(
      Effect.flatMap(
        sql<{ n: number }>`SELECT COUNT(*) AS n FROM order_summaries`,
        ([row]) => Number(row!.n) === 10 ? Effect.void : Effect.fail("not yet")
      )
    )
  )
  // while no relay runs
  for (const id of ids.slice(10)) yield* CommandHandler.execute(Order, id, "place", { customerId: "c", lines })
  for (const id of ids.slice(0, 5)) yield* CommandHandler.execute(Order, id, "confirm", {})
  for (const id of ids.slice(5, 8)) yield* CommandHandler.execute(Order, id, "cancel", {})
  // second run catches up from its checkpoints
  const rows = yield* runRelay(eventually(Effect.gen(function*() {
    const rows = yield* sql<{ order_id: string; status: string; applied: number }>`
      SELECT order_id, status, applied FROM order_summaries ORDER BY order_id`
    const confirmed = rows.filter((r) => r.status === "confirmed").length
    return rows.length === 20 && confirmed === 5 ? rows : yield* Effect.fail("not yet")
  })))
  const byId = new Map(rows.map((r) => [r.order_id, r]))
  for (const [i, id] of ids.entries()) {
    const row = byId.get(id)!
    expect(row.status).toBe(i < 5 ? "confirmed" : i < 8 ? "cancelled" : "pending")
    expect(Number(row.applied)).toBe(i < 8 ? 2 : 1) // each event applied exactly once
  }
})

const tempFile = () => join(mkdtempSync(join(tmpdir(), "effect-ddd-projection-")), "p.db")

describe("projections", () => {
  it.live("SQLite: the read model follows the log exactly once across relay restarts", () =>
    scenario.pipe(Effect.provide(
      CommandHandler.layer().pipe(
        Layer.provideMerge(SqlEventStore.layer()),
        Layer.provideMerge(SqliteClient.layer({ filename: tempFile() }))
      )
    )))

  it.live("PostgreSQL: the read model follows the log exactly once across relay restarts", () =>
    scenario.pipe(Effect.provide(
      CommandHandler.layer().pipe(Layer.provideMerge(SqlEventStore.layer()), Layer.provideMerge(pgClient("projection")))
    )))
})
