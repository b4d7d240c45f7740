/**
 * Order fulfilment, a process manager across several aggregates: one Order, one Inventory per
 * SKU, one Payment.
 *
 * 1. OrderPlaced -> reserve each SKU (undone by releasing it).
 * 2. A SKU short -> release what was reserved -> reject the order: "insufficient stock".
 * 3. All reserved -> request the payment, with a deadline.
 * 4. Declined -> release everything -> reject: "payment declined".
 * 5. Charged -> confirm the order and sell the reserved stock (undone by returning it).
 * 6. No answer before the deadline -> as declined, with "payment timeout".
 * 7. Cancelled (pending or confirmed) -> undo what was done: stock goes back to available.
 */
import { type Duration, type Schedule, Schema } from "effect"
import { ProcessManager, Subscription } from "effect-ddd"
import { Inventory } from "./Domain/Inventory.js"
import { Order, OrderId, type RejectionReason, Sku } from "./Domain/Order.js"
import { Payment } from "./Domain/Payment.js"

export const FulfilmentState = Schema.Struct({
  orderId: Schema.String,
  customerId: Schema.String,
  /** The order's units per SKU (lines of the same SKU added up). */
  units: Schema.Array(Schema.Struct({ sku: Sku, quantity: Schema.Int })),
  reserved: Schema.Array(Sku),
  phase: Schema.Literal("reserving", "charging", "confirmed", "ended")
})
export type FulfilmentState = typeof FulfilmentState.Type

const unitsOf = (lines: ReadonlyArray<{ readonly sku: Sku; readonly quantity: number }>) => {
  const units = new Map<Sku, number>()
  for (const line of lines) units.set(line.sku, (units.get(line.sku) ?? 0) + line.quantity)
  return Array.from(units, ([sku, quantity]) => ({ sku, quantity }))
}

/**
 * The order fulfilment process; the payment deadline defaults to 10 seconds, retries of a failing
 * step to `Subscription.defaultRetry`.
 */
export const makeFulfilment = (options?: {
  readonly paymentTimeout?: Duration.DurationInput
  readonly retry?: Schedule.Schedule<unknown, unknown>
}) => {
  const paymentTimeout = options?.paymentTimeout ?? "10 seconds"
  return ProcessManager.make({
    name: "OrderFulfilment",
    ...(options?.retry === undefined ? {} : { retry: options.retry }),
    state: FulfilmentState,
    events: [
      Subscription.on(Order, "OrderPlaced", "OrderCancelled"),
      Subscription.on(Payment, "PaymentCharged", "PaymentDeclined")
    ],
    startedBy: ["OrderPlaced"],
    correlate: (event) => event.orderId,
    sends: [Inventory, Order, Payment]
  })({
    initial: (orderId) => ({ orderId, customerId: "", units: [], reserved: [], phase: "reserving" }),
    react: (state, input) => {
      const orderId = OrderId.make(state.orderId)
      const reject = (reason: RejectionReason): ProcessManager.Reaction<FulfilmentState> => ({
        state: { ...state, phase: "ended" },
        end: ProcessManager.compensate(reason, { then: [ProcessManager.send(Order, orderId, "reject", { reason })] })
      })
      switch (input._tag) {
        case "OrderPlaced": {
          const units = unitsOf(input.lines)
          return {
            state: { ...state, customerId: input.customerId, units },
            commands: units.map(({ quantity, sku }) =>
              ProcessManager.send(Inventory, sku, "reserve", { orderId, quantity }, {
                compensation: ProcessManager.send(Inventory, sku, "release", { orderId })
              })
            )
          }
        }
        case "CommandSucceeded": {
          if (input.aggregateType !== Inventory.name || input.command !== "reserve") return { state }
          const reserved = [...state.reserved, Sku.make(input.aggregateId)]
          if (reserved.length < state.units.length) return { state: { ...state, reserved } }
          return {
            state: { ...state, reserved, phase: "charging" },
            commands: [ProcessManager.send(Payment, orderId, "request", { customerId: state.customerId })],
            deadlines: [{ name: "payment", after: paymentTimeout }]
          }
        }
        case "CommandRejected": {
          if (input.aggregateType === Inventory.name && input.command === "reserve") return reject("insufficient stock")
          if (input.aggregateType === Payment.name) return reject("payment declined")
          // the order was cancelled before it could be confirmed
          if (input.aggregateType === Order.name && input.command === "confirm") {
            return { state: { ...state, phase: "ended" }, end: ProcessManager.compensate("cancelled") }
          }
          return { state }
        }
        case "PaymentCharged":
          return {
            state: { ...state, phase: "confirmed" },
            cancelDeadlines: ["payment"],
            commands: [
              ProcessManager.send(Order, orderId, "confirm", {}),
              ...state.units.map(({ quantity, sku }) =>
                ProcessManager.send(Inventory, sku, "sell", { orderId }, {
                  compensation: ProcessManager.send(Inventory, sku, "returnSold", { orderId, quantity })
                })
              )
            ]
          }
        case "PaymentDeclined":
          return reject("payment declined")
        case "DeadlineReached":
          return reject("payment timeout")
        case "OrderCancelled":
          return { state: { ...state, phase: "ended" }, end: ProcessManager.compensate("cancelled") }
      }
    }
  })
}

export const OrderFulfilment = makeFulfilment()
