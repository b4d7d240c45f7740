/**
 * The HTTP contract: inventory and orders as `HttpApi` groups, with request and response schemas
 * and each error's status. The server (`Http.ts`) implements it; `HttpApiClient.make(Api)` derives
 * a typed client from it.
 */
import { HttpApi, HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "@effect/platform"
import { Schema } from "effect"
import { CommandHandler } from "effect-ddd"
import { CustomerId, OrderId, OrderLine, OrderNotCancellable, Quantity, RejectionReason, Sku } from "./Domain/Order.js"

/** Report every invalid field, and refuse fields the contract does not know. */
const strict = { parseOptions: { errors: "all", onExcessProperty: "error" } } as const

// --- Inventory ---------------------------------------------------------------------------------------
export const Restock = Schema.Struct({ quantity: Quantity }).annotations(strict)

export const Stock = Schema.Struct({
  sku: Sku,
  available: Schema.Int,
  reserved: Schema.Int,
  sold: Schema.Int
})
export type Stock = typeof Stock.Type

export class SkuNotFound extends Schema.TaggedError<SkuNotFound>()("SkuNotFound", { sku: Sku }) {
  override get message() {
    return `no stock was ever recorded for SKU ${this.sku}`
  }
}

const sku = HttpApiSchema.param("sku", Sku)

export class InventoryApi extends HttpApiGroup.make("inventory")
  .add(
    HttpApiEndpoint.post("restock")`/inventory/${sku}/restock`
      .setPayload(Restock)
      .addSuccess(Stock)
  )
  .add(
    HttpApiEndpoint.get("get")`/inventory/${sku}`
      .addSuccess(Stock)
      .addError(SkuNotFound, { status: 404 })
  )
{}

// --- Orders --------------------------------------------------------------------------------------------
export const PlaceOrder = Schema.Struct({
  customerId: CustomerId,
  lines: Schema.Array(OrderLine).pipe(Schema.minItems(1), Schema.maxItems(50))
}).annotations(strict)
export type PlaceOrder = typeof PlaceOrder.Type

/** An idempotency key: a repeat with the same body returns the first response. */
export const IdempotencyKey = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(255))

export const PlaceOrderHeaders = Schema.Struct({ "idempotency-key": Schema.optional(IdempotencyKey) })

export const OrderAccepted = Schema.Struct({ orderId: OrderId, status: Schema.Literal("pending") })

export const OrderView = Schema.Struct({
  orderId: OrderId,
  customerId: CustomerId,
  lines: Schema.Array(OrderLine),
  status: Schema.Literal("pending", "confirmed", "rejected", "cancelled"),
  reason: Schema.optionalWith(RejectionReason, { exact: true })
})
export type OrderView = typeof OrderView.Type

export const OrderCancelledView = Schema.Struct({ orderId: OrderId, status: Schema.Literal("cancelled") })

export class OrderNotFound extends Schema.TaggedError<OrderNotFound>()("OrderNotFound", { orderId: OrderId }) {
  override get message() {
    return `order ${this.orderId} does not exist`
  }
}

const orderId = HttpApiSchema.param("orderId", OrderId)

export class OrdersApi extends HttpApiGroup.make("orders")
  .add(
    HttpApiEndpoint.post("place", "/orders")
      .setPayload(PlaceOrder)
      .setHeaders(PlaceOrderHeaders)
      .addSuccess(OrderAccepted, { status: 202 })
      .addError(CommandHandler.IdempotencyKeyReused, { status: 422 })
  )
  .add(
    HttpApiEndpoint.get("get")`/orders/${orderId}`
      .addSuccess(OrderView)
      .addError(OrderNotFound, { status: 404 })
  )
  .add(
    HttpApiEndpoint.post("cancel")`/orders/${orderId}/cancel`
      .addSuccess(OrderCancelledView)
      .addError(OrderNotFound, { status: 404 })
      .addError(OrderNotCancellable, { status: 409 })
  )
{}

// --- Observability -------------------------------------------------------------------------------------
export const SubscriptionHealth = Schema.Struct({
  subscription: Schema.String,
  status: Schema.Literal("healthy", "degraded", "unhealthy"),
  lag: Schema.Int,
  oldestUndeliveredAgeMillis: Schema.Number,
  deadLetters: Schema.Int,
  reasons: Schema.Array(Schema.String)
})

const healthFields = {
  checkedAt: Schema.Number,
  subscriptions: Schema.Array(SubscriptionHealth)
}

export const HealthReport = Schema.Struct({ status: Schema.Literal("healthy", "degraded"), ...healthFields })

/** The health report when a subscription is unhealthy. */
export class Unhealthy extends Schema.TaggedError<Unhealthy>()("Unhealthy", {
  status: Schema.Literal("unhealthy"),
  ...healthFields
}) {}

export class ObservabilityApi extends HttpApiGroup.make("observability")
  .add(
    HttpApiEndpoint.get("health", "/health")
      .addSuccess(HealthReport)
      .addError(Unhealthy, { status: 503 })
  )
  .add(
    HttpApiEndpoint.get("metrics", "/metrics")
      .addSuccess(HttpApiSchema.Text({ contentType: "text/plain; version=0.0.4; charset=utf-8" }))
  )
{}

// --- The API -------------------------------------------------------------------------------------------
/** The database cannot be reached (or is too busy) right now: try again later. */
export class ServiceUnavailable extends Schema.TaggedError<ServiceUnavailable>()("ServiceUnavailable", {
  message: Schema.String
}) {}

export class Api extends HttpApi.make("shop")
  .add(InventoryApi)
  .add(OrdersApi)
  .add(ObservabilityApi)
  .addError(ServiceUnavailable, { status: 503 })
  .annotate(OpenApi.Title, "Shop: orders and inventory")
{}
