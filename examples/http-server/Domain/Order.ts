/**
 * The Order aggregate: placed, then confirmed, rejected or cancelled.
 */
import { Either, Schema } from "effect"
import { Aggregate } from "effect-ddd"

export const OrderId = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(64), Schema.brand("OrderId"))
export type OrderId = typeof OrderId.Type

export const CustomerId = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(100))

export const Sku = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(64), Schema.brand("Sku"))
export type Sku = typeof Sku.Type

export const Quantity = Schema.Int.pipe(Schema.between(1, 1_000_000))

export const OrderLine = Schema.Struct({ sku: Sku, quantity: Quantity })
export type OrderLine = typeof OrderLine.Type

export const RejectionReason = Schema.Literal("insufficient stock", "payment declined", "payment timeout")
export type RejectionReason = typeof RejectionReason.Type

export const OrderStatus = Schema.Literal("new", "pending", "confirmed", "rejected", "cancelled")
export type OrderStatus = typeof OrderStatus.Type

// --- Events (the storage contract) -------------------------------------------------------------
export const OrderPlaced = Schema.TaggedStruct("OrderPlaced", {
  orderId: OrderId,
  customerId: CustomerId,
  lines: Schema.Array(OrderLine)
})
export const OrderConfirmed = Schema.TaggedStruct("OrderConfirmed", { orderId: OrderId })
export const OrderRejected = Schema.TaggedStruct("OrderRejected", { orderId: OrderId, reason: RejectionReason })
export const OrderCancelled = Schema.TaggedStruct("OrderCancelled", {
  orderId: OrderId,
  previousStatus: Schema.Literal("pending", "confirmed")
})
export const OrderEvent = Schema.Union(OrderPlaced, OrderConfirmed, OrderRejected, OrderCancelled)
export type OrderEvent = typeof OrderEvent.Type

// --- State ----------------------------------------------------------------------------------------
export const OrderState = Schema.Struct({
  orderId: OrderId,
  status: OrderStatus,
  customerId: Schema.String,
  lines: Schema.Array(OrderLine),
  reason: Schema.optionalWith(RejectionReason, { exact: true })
})
export type OrderState = typeof OrderState.Type

// --- Errors ---------------------------------------------------------------------------------------
export class OrderNotPending extends Schema.TaggedError<OrderNotPending>()("OrderNotPending", {
  orderId: OrderId,
  status: OrderStatus
}) {
  override get message() {
    return `order ${this.orderId} is ${this.status}, not pending`
  }
}

export class OrderNotCancellable extends Schema.TaggedError<OrderNotCancellable>()("OrderNotCancellable", {
  orderId: OrderId,
  status: OrderStatus
}) {
  override get message() {
    return `order ${this.orderId} is ${this.status} and cannot be cancelled`
  }
}

// --- The aggregate ----------------------------------------------------------------------------------
export const Order = Aggregate.make({
  name: "Order",
  id: OrderId,
  state: OrderState,
  events: OrderEvent
})({
  initial: (orderId) => ({ orderId, status: "new", customerId: "", lines: [] }),
  evolve: {
    OrderPlaced: (state, e) => ({ ...state, status: "pending", customerId: e.customerId, lines: e.lines }),
    OrderConfirmed: (state) => ({ ...state, status: "confirmed" }),
    OrderRejected: (state, e) => ({ ...state, status: "rejected", reason: e.reason }),
    OrderCancelled: (state) => ({ ...state, status: "cancelled" })
  }
})
  .command("place", {
    expects: "new",
    input: Schema.Struct({
      customerId: CustomerId,
      lines: Schema.Array(OrderLine).pipe(Schema.minItems(1), Schema.maxItems(50))
    }),
    decide: (state, input) =>
      Either.right([OrderPlaced.make({ orderId: state.orderId, customerId: input.customerId, lines: input.lines })])
  })
  .command("confirm", {
    expects: "existing",
    input: Schema.Struct({}),
    decide: (state) =>
      state.status === "confirmed"
        ? Either.right([])
        : state.status === "pending"
        ? Either.right([OrderConfirmed.make({ orderId: state.orderId })])
        : Either.left(new OrderNotPending({ orderId: state.orderId, status: state.status }))
  })
  .command("reject", {
    expects: "existing",
    input: Schema.Struct({ reason: RejectionReason }),
    decide: (state, input) =>
      state.status === "rejected"
        ? Either.right([])
        : state.status === "pending"
        ? Either.right([OrderRejected.make({ orderId: state.orderId, reason: input.reason })])
        : Either.left(new OrderNotPending({ orderId: state.orderId, status: state.status }))
  })
  .command("cancel", {
    expects: "existing",
    input: Schema.Struct({}),
    decide: (state) =>
      state.status === "pending" || state.status === "confirmed"
        ? Either.right([OrderCancelled.make({ orderId: state.orderId, previousStatus: state.status })])
        : Either.left(new OrderNotCancellable({ orderId: state.orderId, status: state.status }))
  })
