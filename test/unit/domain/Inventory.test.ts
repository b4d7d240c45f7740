import { describe, expect, it } from "@effect/vitest"
import { AggregateSpec } from "effect-ddd/testing"
import {
  InsufficientStock,
  Inventory,
  NotReserved,
  NotSold,
  StockReleased,
  StockReserved,
  StockRestocked,
  StockReturned,
  StockSold
} from "../../../examples/http-server/Domain/Inventory.js"
import { OrderId, Sku } from "../../../examples/http-server/Domain/Order.js"

const sku = Sku.make("apple")
const o1 = OrderId.make("order-1")
const spec = AggregateSpec.make(Inventory, sku)
const restocked = StockRestocked.make({ sku, quantity: 10 })
const reserved = StockReserved.make({ sku, orderId: o1, quantity: 3 })
const released = StockReleased.make({ sku, orderId: o1, quantity: 3 })
const sold = StockSold.make({ sku, orderId: o1, quantity: 3 })
const returned = StockReturned.make({ sku, orderId: o1, quantity: 3 })

describe("Inventory", () => {
  it("restock adds available stock, also to a new SKU", () => {
    const decision = spec.given([]).when("restock", { quantity: 10 }).then([restocked])
    expect([decision.state.available, decision.state.reserved, decision.state.sold]).toEqual([10, 0, 0])
  })

  it("reserve moves available stock to reserved", () => {
    const decision = spec.given([restocked]).when("reserve", { orderId: o1, quantity: 3 }).then([reserved])
    expect([decision.state.available, decision.state.reserved]).toEqual([7, 3])
  })

  it("reserving more than available fails with InsufficientStock", () => {
    const error = spec.given([restocked]).when("reserve", { orderId: o1, quantity: 11 }).thenFails(InsufficientStock)
    expect(error).toEqual(new InsufficientStock({ sku, requested: 11, available: 10 }))
  })

  it("reserving an unknown SKU fails with InsufficientStock", () => {
    spec.given([]).when("reserve", { orderId: o1, quantity: 1 }).thenFails("InsufficientStock")
  })

  it("reserving twice for the same order changes nothing", () => {
    spec.given([restocked, reserved]).when("reserve", { orderId: o1, quantity: 3 }).thenNothingHappened()
  })

  it("release gives a reservation back", () => {
    const decision = spec.given([restocked, reserved]).when("release", { orderId: o1 }).then([released])
    expect([decision.state.available, decision.state.reserved]).toEqual([10, 0])
  })

  it("releasing without a reservation changes nothing", () => {
    spec.given([restocked]).when("release", { orderId: o1 }).thenNothingHappened()
    spec.given([restocked, reserved, released]).when("release", { orderId: o1 }).thenNothingHappened()
  })

  it("sell turns a reservation into sold stock", () => {
    const decision = spec.given([restocked, reserved]).when("sell", { orderId: o1 }).then([sold])
    expect([decision.state.available, decision.state.reserved, decision.state.sold]).toEqual([7, 0, 3])
  })

  it("selling without a reservation (none, released, or sold already) fails with NotReserved", () => {
    for (const history of [[restocked], [restocked, reserved, released], [restocked, reserved, sold]]) {
      const error = spec.given(history).when("sell", { orderId: o1 }).thenFails(NotReserved)
      expect(error).toEqual(new NotReserved({ sku, orderId: o1 }))
    }
  })

  it("the state does not grow with the orders sold", () => {
    const decision = spec.given([restocked, reserved]).when("sell", { orderId: o1 }).then([sold])
    expect(decision.state.reservations).toEqual({})
  })

  it("returnSold puts sold stock back to available", () => {
    const decision = spec.given([restocked, reserved, sold]).when("returnSold", { orderId: o1, quantity: 3 }).then([
      returned
    ])
    expect([decision.state.available, decision.state.reserved, decision.state.sold]).toEqual([10, 0, 0])
  })

  it("returning more than was sold fails with NotSold", () => {
    const error = spec.given([restocked, reserved]).when("returnSold", { orderId: o1, quantity: 3 }).thenFails(NotSold)
    expect(error).toEqual(new NotSold({ sku, requested: 3, sold: 0 }))
  })
})
