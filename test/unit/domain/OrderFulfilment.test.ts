import { describe, expect, it } from "@effect/vitest"
import { ProcessManager } from "effect-ddd"
import { ProcessManagerSpec } from "effect-ddd/testing"
import { Inventory } from "../../../examples/http-server/Domain/Inventory.js"
import { Order, OrderCancelled, OrderId, OrderPlaced, Sku } from "../../../examples/http-server/Domain/Order.js"
import { Payment, PaymentCharged, PaymentDeclined } from "../../../examples/http-server/Domain/Payment.js"
import { makeFulfilment } from "../../../examples/http-server/OrderFulfilment.js"

// #region setup
const Fulfilment = makeFulfilment({ paymentTimeout: "30 seconds" })
const orderId = OrderId.make("order-1")
const apple = Sku.make("apple")
const pear = Sku.make("pear")
const spec = ProcessManagerSpec.make(Fulfilment, orderId)
const { send } = ProcessManager
// #endregion setup

const placed = OrderPlaced.make({
  orderId,
  customerId: "ada",
  lines: [{ sku: apple, quantity: 2 }, { sku: pear, quantity: 1 }, { sku: apple, quantity: 3 }]
})
const reserve = (sku: Sku, quantity: number) =>
  send(Inventory, sku, "reserve", { orderId, quantity }, { compensation: send(Inventory, sku, "release", { orderId }) })
const release = (sku: Sku) => send(Inventory, sku, "release", { orderId })
const reject = (reason: "insufficient stock" | "payment declined" | "payment timeout") =>
  send(Order, orderId, "reject", { reason })
const reservedAll = [
  placed,
  ProcessManagerSpec.succeeded(Inventory, apple, "reserve"),
  ProcessManagerSpec.succeeded(Inventory, pear, "reserve")
] as const
const charging = [...reservedAll, ProcessManagerSpec.succeeded(Payment, orderId, "request")] as const
const confirmed = [
  ...charging,
  PaymentCharged.make({ orderId }),
  ProcessManagerSpec.succeeded(Order, orderId, "confirm"),
  ProcessManagerSpec.succeeded(Inventory, apple, "sell"),
  ProcessManagerSpec.succeeded(Inventory, pear, "sell")
] as const

describe("OrderFulfilment", () => {
  // #region spec
  it("1. OrderPlaced reserves each SKU once, lines of one SKU added up", () => {
    spec.given([]).when(placed).then([reserve(apple, 5), reserve(pear, 1)]).thenStatus("running")
  })

  it("an event for an instance that never started is ignored", () => {
    spec.given([]).when(PaymentCharged.make({ orderId })).then([]).thenStatus("new")
  })

  it("2. a short SKU releases what was reserved, then rejects: insufficient stock", () => {
    spec
      .given([placed, ProcessManagerSpec.succeeded(Inventory, apple, "reserve")])
      .when(ProcessManagerSpec.rejected(Inventory, pear, "reserve", "InsufficientStock"))
      .then([release(apple), reject("insufficient stock")])
      .thenStatus("compensating", "insufficient stock")
  })
  // #endregion spec

  it("2. a reservation that succeeds after the process began compensating is released at once", () => {
    const compensating = spec
      .given([placed])
      .when(ProcessManagerSpec.rejected(Inventory, apple, "reserve", "InsufficientStock"))
      .then([reject("insufficient stock")])
    const late = ProcessManagerSpec.make(Fulfilment, orderId)
      .given([placed, ProcessManagerSpec.rejected(Inventory, apple, "reserve", "InsufficientStock")])
      .when(ProcessManagerSpec.succeeded(Inventory, pear, "reserve"))
      .then([release(pear)])
    expect(compensating.instance.status).toBe("compensating")
    expect(late.instance.status).toBe("compensating")
    // once the release and the rejection are settled, it is compensated
    ProcessManagerSpec.make(Fulfilment, orderId)
      .given([
        placed,
        ProcessManagerSpec.rejected(Inventory, apple, "reserve", "InsufficientStock"),
        ProcessManagerSpec.succeeded(Inventory, pear, "reserve"),
        ProcessManagerSpec.succeeded(Order, orderId, "reject")
      ])
      .when(ProcessManagerSpec.succeeded(Inventory, pear, "release"))
      .then([])
      .thenStatus("compensated", "insufficient stock")
  })

  it("3. all reserved: the payment is requested, with a deadline", () => {
    spec
      .given([placed, ProcessManagerSpec.succeeded(Inventory, apple, "reserve")])
      .after("5 seconds")
      .when(ProcessManagerSpec.succeeded(Inventory, pear, "reserve"))
      .then([send(Payment, orderId, "request", { customerId: "ada" })])
      .thenDeadlines([{ name: "payment", dueAt: 35_000 }])
  })

  it("4. declined: everything is released, newest first, then: payment declined", () => {
    spec
      .given(charging)
      .when(PaymentDeclined.make({ orderId }))
      .then([release(pear), release(apple), reject("payment declined")])
      .thenStatus("compensating", "payment declined")
      .thenDeadlines([])
  })

  it("5. charged: the order is confirmed and the stock sold; the deadline is cancelled", () => {
    const sell = (sku: Sku, quantity: number) =>
      send(Inventory, sku, "sell", { orderId }, {
        compensation: send(Inventory, sku, "returnSold", { orderId, quantity })
      })
    spec
      .given(charging)
      .when(PaymentCharged.make({ orderId }))
      .then([send(Order, orderId, "confirm", {}), sell(apple, 5), sell(pear, 1)])
      .thenStatus("running")
      .thenDeadlines([])
  })

  it("6. no payment answer before the deadline: released, then: payment timeout", () => {
    spec
      .given(charging)
      .when(ProcessManagerSpec.deadline("payment"))
      .then([release(pear), release(apple), reject("payment timeout")])
      .thenStatus("compensating", "payment timeout")
  })

  it("6. a deadline that was cancelled is ignored", () => {
    spec.given([...charging, PaymentCharged.make({ orderId })]).when(ProcessManagerSpec.deadline("payment")).then([])
  })

  it("7. cancelling a pending order releases its stock", () => {
    spec
      .given(reservedAll)
      .when(OrderCancelled.make({ orderId, previousStatus: "pending" }))
      .then([release(pear), release(apple)])
      .thenStatus("compensating", "cancelled")
  })

  it("7. cancelling a confirmed order returns the sold stock", () => {
    spec
      .given(confirmed)
      .when(OrderCancelled.make({ orderId, previousStatus: "confirmed" }))
      .then([
        send(Inventory, pear, "returnSold", { orderId, quantity: 1 }),
        send(Inventory, apple, "returnSold", { orderId, quantity: 5 }),
        release(pear),
        release(apple)
      ])
      .thenStatus("compensating", "cancelled")
  })

  it("an ended process ignores later events", () => {
    spec
      .given([...charging, PaymentDeclined.make({ orderId })])
      .when(PaymentCharged.make({ orderId }))
      .then([])
  })

  it("the state tracks the units and the reservations", () => {
    spec
      .given([placed])
      .when(ProcessManagerSpec.succeeded(Inventory, apple, "reserve"))
      .thenState({
        orderId,
        customerId: "ada",
        units: [{ sku: apple, quantity: 5 }, { sku: pear, quantity: 1 }],
        reserved: [apple],
        phase: "reserving"
      })
  })
})
