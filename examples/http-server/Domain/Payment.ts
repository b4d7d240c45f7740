/**
 * The Payment aggregate, one per order: requested, then charged or declined by the payment
 * gateway. Recording the gateway's answer twice changes nothing.
 */
import { Either, Schema } from "effect"
import { Aggregate } from "effect-ddd"
import { CustomerId, OrderId } from "./Order.js"

// --- Events -----------------------------------------------------------------------------------------
export const PaymentRequested = Schema.TaggedStruct("PaymentRequested", { orderId: OrderId, customerId: CustomerId })
export const PaymentCharged = Schema.TaggedStruct("PaymentCharged", { orderId: OrderId })
export const PaymentDeclined = Schema.TaggedStruct("PaymentDeclined", { orderId: OrderId })
export const PaymentEvent = Schema.Union(PaymentRequested, PaymentCharged, PaymentDeclined)
export type PaymentEvent = typeof PaymentEvent.Type

// --- State -------------------------------------------------------------------------------------------
export const PaymentStatus = Schema.Literal("new", "requested", "charged", "declined")
export const PaymentState = Schema.Struct({ orderId: OrderId, customerId: Schema.String, status: PaymentStatus })
export type PaymentState = typeof PaymentState.Type

// --- Errors ------------------------------------------------------------------------------------------
export class PaymentAlreadySettled extends Schema.TaggedError<PaymentAlreadySettled>()("PaymentAlreadySettled", {
  orderId: OrderId,
  status: PaymentStatus
}) {
  override get message() {
    return `payment of order ${this.orderId} is already ${this.status}`
  }
}

// --- The aggregate -------------------------------------------------------------------------------------
export const Payment = Aggregate.make({
  name: "Payment",
  id: OrderId,
  state: PaymentState,
  events: PaymentEvent
})({
  initial: (orderId) => ({ orderId, customerId: "", status: "new" }),
  evolve: {
    PaymentRequested: (s, e) => ({ ...s, customerId: e.customerId, status: "requested" }),
    PaymentCharged: (s) => ({ ...s, status: "charged" }),
    PaymentDeclined: (s) => ({ ...s, status: "declined" })
  }
})
  .command("request", {
    expects: "new",
    input: Schema.Struct({ customerId: CustomerId }),
    decide: (s, { customerId }) => Either.right([PaymentRequested.make({ orderId: s.orderId, customerId })])
  })
  .command("recordCharge", {
    expects: "existing",
    input: Schema.Struct({}),
    decide: (s) =>
      s.status === "charged"
        ? Either.right([])
        : s.status === "requested"
        ? Either.right([PaymentCharged.make({ orderId: s.orderId })])
        : Either.left(new PaymentAlreadySettled({ orderId: s.orderId, status: s.status }))
  })
  .command("recordDecline", {
    expects: "existing",
    input: Schema.Struct({}),
    decide: (s) =>
      s.status === "declined"
        ? Either.right([])
        : s.status === "requested"
        ? Either.right([PaymentDeclined.make({ orderId: s.orderId })])
        : Either.left(new PaymentAlreadySettled({ orderId: s.orderId, status: s.status }))
  })
