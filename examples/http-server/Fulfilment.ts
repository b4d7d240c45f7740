/**
 * Order fulfilment, driven by the relay: a placed order reserves the stock of each SKU (its lines
 * added up) and is confirmed (the stock is sold) or rejected for insufficient stock (what was
 * reserved is given back); a cancelled order returns its stock. One subscription handles both
 * events, so they are handled in order for each order.
 */
import { Context, Effect, Layer } from "effect"
import { CommandHandler, Relay, Subscription } from "effect-ddd"
import { Inventory } from "./Domain/Inventory.js"
import { Order, type OrderId, type OrderLine, OrderNotPending, type Sku } from "./Domain/Order.js"
import * as RelayDrain from "./RelayDrain.js"

/** A confirmation or rejection that finds the order already cancelled has nothing left to do. */
const unlessCancelled = <A, E, R>(effect: Effect.Effect<A, E | OrderNotPending, R>) =>
  Effect.catchIf(effect, (e): e is OrderNotPending => e instanceof OrderNotPending, () => Effect.void)

/** The order's units per SKU: lines of the same SKU added up. */
const unitsOf = (lines: ReadonlyArray<OrderLine>) => {
  const units = new Map<Sku, number>()
  for (const line of lines) units.set(line.sku, (units.get(line.sku) ?? 0) + line.quantity)
  return Array.from(units, ([sku, quantity]) => ({ sku, quantity }))
}

const giveBack = (orderId: OrderId, lines: ReadonlyArray<OrderLine>) =>
  Effect.forEach(unitsOf(lines), ({ sku }) =>
    Effect.zipRight(
      CommandHandler.execute(Inventory, sku, "release", { orderId }),
      CommandHandler.execute(Inventory, sku, "returnSold", { orderId })
    ), { discard: true })

const fulfil = (orderId: OrderId, lines: ReadonlyArray<OrderLine>) =>
  Effect.gen(function*() {
    const order = yield* CommandHandler.load(Order, orderId)
    // cancelled before its turn came: the cancellation, handled next, gives back what there is
    if (order.state.status !== "pending") return
    const units = unitsOf(lines)
    const reserved = yield* Effect.forEach(units, ({ quantity, sku }) =>
      CommandHandler.execute(Inventory, sku, "reserve", { orderId, quantity }), { discard: true }).pipe(
        Effect.as(true),
        Effect.catchTag("InsufficientStock", () => Effect.succeed(false))
      )
    if (!reserved) {
      yield* giveBack(orderId, lines)
      return yield* unlessCancelled(CommandHandler.execute(Order, orderId, "reject", { reason: "insufficient stock" }))
    }
    yield* Effect.forEach(units, ({ sku }) => CommandHandler.execute(Inventory, sku, "sell", { orderId }), { discard: true })
    yield* unlessCancelled(CommandHandler.execute(Order, orderId, "confirm", {}))
  })

/** OrderPlaced: reserve, then confirm or reject; OrderCancelled: give the stock back. */
export const orderFulfilment = Subscription.make({
  name: "order-fulfilment",
  events: [Subscription.on(Order, "OrderPlaced", "OrderCancelled")],
  handle: (event) =>
    event._tag === "OrderPlaced" ? fulfil(event.orderId, event.lines) : Effect.flatMap(
      CommandHandler.load(Order, event.orderId),
      (order) => giveBack(event.orderId, order.state.lines)
    )
})

export const subscriptions = [orderFulfilment]

/**
 * The relay running the fulfilment subscriptions. On shutdown it first lets the deliveries of
 * events already committed finish (for a few seconds at most).
 */
export const FulfilmentLive = RelayDrain.layer(subscriptions).pipe(
  Layer.provideMerge(Relay.layer({ subscriptions })),
  Layer.tap((context) =>
    Effect.log(`relay ${Context.get(context, Relay.Relay).owner} started: ${
      subscriptions.map((s) => `${s.name} (${s.partitions} partitions)`).join(", ")
    }`)
  )
)
