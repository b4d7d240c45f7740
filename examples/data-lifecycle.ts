import { SqliteClient } from "@effect/sql-sqlite-node"
import { Effect, Layer, Schedule } from "effect"
import { Aggregate, CommandHandler, Pruner, Retention } from "effect-ddd"
import { SqlEventStore } from "effect-ddd/sql"
import { Inventory } from "./http-server/Domain/Inventory.js"
import { Order } from "./http-server/Domain/Order.js"

// Inventory is state-stored: its delivered events go after 7 days. Order is event-sourced here:
// with beforeSnapshot, only what its latest snapshot covers goes.
export const retention = Retention.policy({
  aggregates: [Inventory, Order.pipe(Aggregate.withPersistence(Aggregate.eventSourced({ snapshotEvery: 50 })))],
  events: "7 days",
  eventSourced: "beforeSnapshot",
  idempotency: "7 days", // never under Retention.minimumDeduplicationWindow (7 days)
  inbox: "14 days" // a NATS stream kept 14 days redelivers for 14 days
})

// the store records the policy (effect-ddd prune applies it); the pruner runs every 10 minutes,
// 500 rows per transaction, 50 ms apart
export const Live = Pruner.layer({ schedule: Schedule.spaced("10 minutes"), batchSize: 500, pause: "50 millis" }).pipe(
  Layer.provideMerge(CommandHandler.layer()),
  Layer.provideMerge(SqlEventStore.layer({ retention })),
  Layer.provide(SqliteClient.layer({ filename: ":memory:" }))
)

// what a run would remove now, and what holds it back
export const report = Pruner.plan.pipe(
  Effect.tap((plan) => Effect.log(`removable now: ${JSON.stringify(plan.removable)}`)),
  Effect.provide(Live)
)
