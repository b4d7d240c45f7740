/**
 * The Inventory aggregate, one per SKU: stock is available, reserved for an order, or sold.
 * Reservations are kept per order until they are sold or released, so reserving or releasing
 * twice changes nothing, and only a reservation can be sold. Sales are not kept per order: the
 * state would grow with every order ever sold (it is read and written by every command on the
 * SKU). A return names its quantity, and the fulfilment saga sends it once (its idempotency key).
 */
import { Either, Schema } from "effect"
import { Aggregate } from "effect-ddd"
import { OrderId, Quantity, Sku } from "./Order.js"

/** Units of one SKU for one order: the sum of the order's lines of that SKU. */
export const Units = Schema.Int.pipe(Schema.positive())

// --- Events -----------------------------------------------------------------------------------------
export const StockRestocked = Schema.TaggedStruct("StockRestocked", { sku: Sku, quantity: Quantity })
export const StockReserved = Schema.TaggedStruct("StockReserved", { sku: Sku, orderId: OrderId, quantity: Units })
/** A reservation given back: reserved -> available. */
export const StockReleased = Schema.TaggedStruct("StockReleased", { sku: Sku, orderId: OrderId, quantity: Units })
/** A reservation confirmed: reserved -> sold. */
export const StockSold = Schema.TaggedStruct("StockSold", { sku: Sku, orderId: OrderId, quantity: Units })
/** A sale cancelled: sold -> available. */
export const StockReturned = Schema.TaggedStruct("StockReturned", { sku: Sku, orderId: OrderId, quantity: Units })
export const InventoryEvent = Schema.Union(StockRestocked, StockReserved, StockReleased, StockSold, StockReturned)
export type InventoryEvent = typeof InventoryEvent.Type

// --- State -------------------------------------------------------------------------------------------
const Count = Schema.Int.pipe(Schema.nonNegative())
export const InventoryState = Schema.Struct({
  sku: Sku,
  available: Count,
  reserved: Count,
  sold: Count,
  /** Quantity reserved per order, until sold or released. */
  reservations: Schema.Record({ key: Schema.String, value: Count })
})
export type InventoryState = typeof InventoryState.Type

// --- Errors ------------------------------------------------------------------------------------------
export class InsufficientStock extends Schema.TaggedError<InsufficientStock>()("InsufficientStock", {
  sku: Sku,
  requested: Schema.Int,
  available: Schema.Int
}) {
  override get message() {
    return `${this.requested} of ${this.sku} requested, ${this.available} available`
  }
}

export class NotReserved extends Schema.TaggedError<NotReserved>()("NotReserved", { sku: Sku, orderId: OrderId }) {
  override get message() {
    return `nothing of ${this.sku} is reserved for order ${this.orderId}`
  }
}

export class NotSold
  extends Schema.TaggedError<NotSold>()("NotSold", { sku: Sku, requested: Schema.Int, sold: Schema.Int })
{
  override get message() {
    return `${this.requested} of ${this.sku} to return, ${this.sold} sold`
  }
}

const without = (record: Readonly<Record<string, number>>, key: string) => {
  const { [key]: _, ...rest } = record
  return rest
}

// --- The aggregate -------------------------------------------------------------------------------------
// #region aggregate
export const Inventory = Aggregate.make({
  name: "Inventory",
  id: Sku,
  state: InventoryState,
  events: InventoryEvent
})({
  initial: (sku) => ({ sku, available: 0, reserved: 0, sold: 0, reservations: {} }),
  evolve: {
    StockRestocked: (s, e) => ({ ...s, available: s.available + e.quantity }),
    StockReserved: (s, e) => ({
      ...s,
      available: s.available - e.quantity,
      reserved: s.reserved + e.quantity,
      reservations: { ...s.reservations, [e.orderId]: e.quantity }
    }),
    StockReleased: (s, e) => ({
      ...s,
      available: s.available + e.quantity,
      reserved: s.reserved - e.quantity,
      reservations: without(s.reservations, e.orderId)
    }),
    StockSold: (s, e) => ({
      ...s,
      reserved: s.reserved - e.quantity,
      sold: s.sold + e.quantity,
      reservations: without(s.reservations, e.orderId)
    }),
    StockReturned: (s, e) => ({
      ...s,
      sold: s.sold - e.quantity,
      available: s.available + e.quantity
    })
  }
})
  .command("restock", {
    expects: "any",
    input: Schema.Struct({ quantity: Quantity }),
    decide: (s, { quantity }) => Either.right([StockRestocked.make({ sku: s.sku, quantity })])
  })
  .command("reserve", {
    expects: "any",
    input: Schema.Struct({ orderId: OrderId, quantity: Units }),
    decide: (s, { orderId, quantity }) =>
      orderId in s.reservations
        ? Either.right([])
        : quantity > s.available
        ? Either.left(new InsufficientStock({ sku: s.sku, requested: quantity, available: s.available }))
        : Either.right([StockReserved.make({ sku: s.sku, orderId, quantity })])
  })
  .command("release", {
    expects: "any",
    input: Schema.Struct({ orderId: OrderId }),
    decide: (s, { orderId }) => {
      const quantity = s.reservations[orderId]
      return Either.right(quantity === undefined ? [] : [StockReleased.make({ sku: s.sku, orderId, quantity })])
    }
  })
  .command("sell", {
    expects: "any",
    input: Schema.Struct({ orderId: OrderId }),
    decide: (s, { orderId }) => {
      const quantity = s.reservations[orderId]
      return quantity === undefined
        ? Either.left(new NotReserved({ sku: s.sku, orderId }))
        : Either.right([StockSold.make({ sku: s.sku, orderId, quantity })])
    }
  })
  .command("returnSold", {
    expects: "any",
    input: Schema.Struct({ orderId: OrderId, quantity: Units }),
    decide: (s, { orderId, quantity }) =>
      quantity > s.sold
        ? Either.left(new NotSold({ sku: s.sku, requested: quantity, sold: s.sold }))
        : Either.right([StockReturned.make({ sku: s.sku, orderId, quantity })])
  })
// #endregion aggregate
