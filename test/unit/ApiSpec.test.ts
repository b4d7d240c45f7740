/**
 * The example server's API as `ApiSpec` specifications: given the events already stored, when a
 * request is served (in-process, by the application of `main.ts` without its socket and its
 * relay's subscriptions), then its response and the events it appended.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { CommandHandler, Health, MemoryEventStore, Relay } from "effect-ddd"
import { OpenTelemetry } from "effect-ddd/opentelemetry"
import { ApiSpec } from "effect-ddd/testing/http"
import { Inventory, StockRestocked } from "../../examples/http-server/Domain/Inventory.js"
import {
  Order,
  OrderCancelled,
  OrderId,
  OrderPlaced,
  OrderRejected,
  Sku
} from "../../examples/http-server/Domain/Order.js"
import { AppLive } from "../../examples/http-server/Http.js"

/** A fresh in-memory world for each specification: stores, command handler, an idle relay. */
const World = Layer.mergeAll(
  CommandHandler.layer(),
  Relay.layer({ subscriptions: [] }),
  Health.layer({ subscriptions: [] }),
  Layer.succeed(OpenTelemetry.PrometheusMetrics, { scrape: Effect.succeed("") })
).pipe(Layer.provideMerge(MemoryEventStore.layer))

// #region setup
const spec = ApiSpec.make(AppLive)
const apple = Sku.make("apple")
const lines = [{ sku: apple, quantity: 2 }]
// #endregion setup

describe("ApiSpec: the example server's API", () => {
  // #region spec
  it.effect("restocking appends StockRestocked after the SKU's history and answers the stock", () =>
    spec
      .given(ApiSpec.events(Inventory, apple, [StockRestocked.make({ sku: apple, quantity: 5 })]))
      .when(ApiSpec.request("POST", "/inventory/apple/restock", { quantity: 3 }))
      .then({
        status: 200,
        body: { sku: "apple", available: 8, reserved: 0, sold: 0 },
        events: [ApiSpec.events(Inventory, apple, [StockRestocked.make({ sku: apple, quantity: 3 })])]
      })
      .pipe(Effect.provide(World)))

  it.effect("placing an order appends OrderPlaced under the id the response names", () =>
    spec
      .given()
      .when(ApiSpec.request("POST", "/orders", { customerId: "ada", lines }))
      .then((response) => ({
        status: 202,
        body: { orderId: response.body.orderId, status: "pending" },
        events: [
          ApiSpec.events(Order, response.body.orderId, [
            OrderPlaced.make({ orderId: response.body.orderId, customerId: "ada", lines })
          ])
        ]
      }))
      .pipe(Effect.provide(World)))
  // #endregion spec

  it.effect("a rejected order cannot be cancelled: 409, and nothing is appended", () => {
    const orderId = OrderId.make("order-1")
    return spec
      .given(ApiSpec.events(Order, orderId, [
        OrderPlaced.make({ orderId, customerId: "ada", lines }),
        OrderRejected.make({ orderId, reason: "insufficient stock" })
      ]))
      .when(ApiSpec.request("POST", `/orders/${orderId}/cancel`))
      .then({
        status: 409,
        body: {
          error: "OrderNotCancellable",
          message: "order order-1 is rejected and cannot be cancelled",
          orderId,
          status: "rejected"
        },
        events: []
      })
      .pipe(Effect.provide(World))
  })

  it.effect("cancelling a pending order appends OrderCancelled", () => {
    const orderId = OrderId.make("order-2")
    return spec
      .given(ApiSpec.events(Order, orderId, [OrderPlaced.make({ orderId, customerId: "bob", lines })]))
      .when(ApiSpec.request("POST", `/orders/${orderId}/cancel`))
      .then({
        status: 200,
        body: { orderId, status: "cancelled" },
        events: [ApiSpec.events(Order, orderId, [OrderCancelled.make({ orderId, previousStatus: "pending" })])]
      })
      .pipe(Effect.provide(World))
  })

  it.effect("an invalid body is 400 naming each field, and nothing is appended", () =>
    spec
      .given()
      .when(ApiSpec.request("POST", "/orders", { customerId: "", lines: [] }))
      .then({
        status: 400,
        body: {
          error: "InvalidRequest",
          message:
            `customerId: Expected a string at least 1 character(s) long, actual ""; lines: Expected an array of at least 1 item(s), actual []`,
          issues: [
            { field: "customerId", message: `Expected a string at least 1 character(s) long, actual ""` },
            { field: "lines", message: "Expected an array of at least 1 item(s), actual []" }
          ]
        },
        events: []
      })
      .pipe(Effect.provide(World)))

  it.effect("a failed expectation throws, naming what differs", () =>
    Effect.gen(function*() {
      const failure = yield* spec
        .given()
        .when(ApiSpec.request("GET", "/inventory/pear"))
        .then({ status: 200 })
        .pipe(Effect.provide(World), Effect.catchAllDefect(Effect.succeed))
      expect(String(failure)).toContain("GET /inventory/pear: status 404")
      const events = yield* spec
        .given()
        .when(ApiSpec.request("POST", "/inventory/pear/restock", { quantity: 1 }))
        .then({ status: 200, events: [] })
        .pipe(Effect.provide(World), Effect.catchAllDefect(Effect.succeed))
      expect(String(events)).toContain("POST /inventory/pear/restock: new events")
    }))
})
