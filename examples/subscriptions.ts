/**
 * Eventual consistency between aggregates: an order reserves stock through a subscription, and
 * is confirmed (or rejected) through another. Run it with `npx tsx examples/subscriptions.ts`.
 */
import { SqliteClient } from "@effect/sql-sqlite-node"
import { Effect, Layer, Schedule } from "effect"
import { CommandHandler, Relay, Subscription } from "effect-ddd"
import { SqlEventStore } from "effect-ddd/sql"
import { Inventory } from "./http-server/Domain/Inventory.js"
import { Order, OrderId, Sku } from "./http-server/Domain/Order.js"

// OrderPlaced -> reserve the stock in the Inventory aggregate's own transaction, or reject the order
export const reserveStock = Subscription.make({
  name: "reserve-stock",
  events: [Subscription.on(Order, "OrderPlaced")],
  handle: (event) =>
    Effect.forEach(
      event.lines,
      (line) =>
        CommandHandler.execute(Inventory, line.sku, "reserve", { orderId: event.orderId, quantity: line.quantity })
          .pipe(
            Effect.catchTag("InsufficientStock", () =>
              CommandHandler.execute(Order, event.orderId, "reject", { reason: "insufficient stock" }))
          ),
      { discard: true }
    )
})

// StockReserved -> confirm the order
export const confirmOrder = Subscription.make({
  name: "confirm-order",
  events: [Subscription.on(Inventory, "StockReserved")],
  retry: Schedule.exponential("50 millis").pipe(Schedule.intersect(Schedule.recurs(3))),
  handle: (event) => Effect.asVoid(CommandHandler.execute(Order, event.orderId, "confirm", {}))
})

const program = Effect.gen(function*() {
  const apple = Sku.make("apple")
  yield* CommandHandler.execute(Inventory, apple, "restock", { quantity: 3 })
  const first = OrderId.make("order-1")
  const second = OrderId.make("order-2")
  yield* CommandHandler.execute(Order, first, "place", { customerId: "ada", lines: [{ sku: apple, quantity: 2 }] })
  yield* CommandHandler.execute(Order, second, "place", { customerId: "bob", lines: [{ sku: apple, quantity: 2 }] })
  // the commands have returned; the consequences follow asynchronously
  const settled = yield* Effect.forEach([first, second], (id) => CommandHandler.load(Order, id)).pipe(
    Effect.filterOrFail((orders) => orders.every((o) => o.state.status !== "pending"), () => "still pending"),
    Effect.retry(Schedule.spaced("10 millis"))
  )
  for (const order of settled) {
    yield* Effect.log(`${order.id}: ${order.state.status}${order.state.reason ? ` (${order.state.reason})` : ""}`)
  }
  const stock = yield* CommandHandler.load(Inventory, apple)
  yield* Effect.log(`apple: ${stock.state.available} available, ${stock.state.reserved} reserved`)
})

// The relay runs while its layer is up; the command handler and the relay share the SQLite store.
const MainLayer = Relay.layer({ subscriptions: [reserveStock, confirmOrder] }).pipe(
  Layer.provideMerge(CommandHandler.layer()),
  Layer.provideMerge(SqlEventStore.layer()),
  Layer.provide(SqliteClient.layer({ filename: ":memory:" }))
)

Effect.runPromise(program.pipe(Effect.provide(MainLayer)))
