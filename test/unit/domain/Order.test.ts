import { describe, it } from "@effect/vitest"
import { AggregateSpec } from "effect-ddd/testing"
import {
  Order,
  OrderCancelled,
  OrderConfirmed,
  OrderId,
  OrderPlaced,
  OrderRejected,
  Sku
} from "../../../examples/http-server/Domain/Order.js"

const orderId = OrderId.make("order-1")
const lines = [{ sku: Sku.make("apple"), quantity: 2 }]
const spec = AggregateSpec.make(Order, orderId)
const placed = OrderPlaced.make({ orderId, customerId: "c-1", lines })
const confirmed = OrderConfirmed.make({ orderId })
const rejected = OrderRejected.make({ orderId, reason: "insufficient stock" })
const cancelled = OrderCancelled.make({ orderId, previousStatus: "pending" })

describe("Order", () => {
  describe("place", () => {
    it("places a new order", () => {
      spec.given([]).when("place", { customerId: "c-1", lines }).then([placed])
    })
    it("the placed order is pending with its lines", () => {
      spec.given([]).when("place", { customerId: "c-1", lines }).thenState({
        orderId,
        status: "pending",
        customerId: "c-1",
        lines
      })
    })
    it("cannot place an order twice", () => {
      spec.given([placed]).when("place", { customerId: "c-1", lines }).thenFails("AggregateAlreadyExists")
    })
  })

  describe("confirm", () => {
    it("confirms a pending order", () => {
      spec.given([placed]).when("confirm", {}).then([confirmed])
    })
    it("confirming twice changes nothing", () => {
      spec.given([placed, confirmed]).when("confirm", {}).thenNothingHappened()
    })
    it("a rejected order cannot be confirmed", () => {
      spec.given([placed, rejected]).when("confirm", {}).thenFails("OrderNotPending")
    })
    it("an unknown order cannot be confirmed", () => {
      spec.given([]).when("confirm", {}).thenFails("AggregateNotFound")
    })
  })

  describe("reject", () => {
    it("rejects a pending order with a reason", () => {
      spec.given([placed]).when("reject", { reason: "insufficient stock" }).then([rejected])
    })
    it("rejecting twice changes nothing", () => {
      spec.given([placed, rejected]).when("reject", { reason: "payment declined" }).thenNothingHappened()
    })
    it("a confirmed order cannot be rejected", () => {
      spec.given([placed, confirmed]).when("reject", { reason: "payment timeout" }).thenFails("OrderNotPending")
    })
    it("a cancelled order cannot be rejected", () => {
      spec.given([placed, cancelled]).when("reject", { reason: "payment timeout" }).thenFails("OrderNotPending")
    })
    it("an unknown order cannot be rejected", () => {
      spec.given([]).when("reject", { reason: "payment timeout" }).thenFails("AggregateNotFound")
    })
  })

  describe("cancel", () => {
    it("cancels a pending order", () => {
      spec.given([placed]).when("cancel", {}).then([cancelled])
    })
    it("cancels a confirmed order", () => {
      spec.given([placed, confirmed]).when("cancel", {}).then([
        OrderCancelled.make({ orderId, previousStatus: "confirmed" })
      ])
    })
    it("a rejected order cannot be cancelled", () => {
      spec.given([placed, rejected]).when("cancel", {}).thenFails("OrderNotCancellable")
    })
    it("a cancelled order cannot be cancelled again", () => {
      spec.given([placed, cancelled]).when("cancel", {}).thenFails("OrderNotCancellable")
    })
    it("an unknown order cannot be cancelled", () => {
      spec.given([]).when("cancel", {}).thenFails("AggregateNotFound")
    })
  })
})
