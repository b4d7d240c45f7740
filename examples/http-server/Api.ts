/**
 * The HTTP contract: inventory, orders, health and metrics, and the admin API as `HttpApi` groups, with request and
 * response schemas and each error's status and JSON body (`ErrorBody`). The server (`Http.ts`)
 * implements it, `/openapi.json` and `/docs` describe it, and `HttpApiClient.make(Api)` derives a
 * typed client from it.
 */
import { HttpApi, HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "@effect/platform"
import { Schema } from "effect"
import { CommandHandler } from "effect-ddd"
import { AdminApi } from "./AdminApi.js"
import { CustomerId, OrderId, OrderLine, OrderNotCancellable, Quantity, RejectionReason, Sku } from "./Domain/Order.js"
import * as ErrorBody from "./ErrorBody.js"
import { Json } from "./HttpErrors.js"

/** Report every invalid field, and refuse fields the contract does not know. */
const strict = { parseOptions: { errors: "all", onExcessProperty: "error" } } as const

const controlOrLoneSurrogate =
  // eslint-disable-next-line no-control-regex -- control characters are what it finds
  /[\u0000-\u001f\u007f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/

/**
 * Text from clients is printable: no control characters and no unpaired surrogates (PostgreSQL
 * stores neither, and neither makes a sensible id or name).
 */
const printable = <S extends Schema.Schema<any, string>>(self: S) =>
  self.pipe(Schema.filter((text: string) => !controlOrLoneSurrogate.test(text), {
    message: () => "must be printable text: no control characters or unpaired surrogates"
  }))

// --- Inventory ---------------------------------------------------------------------------------------
export const Restock = Schema.Struct({ quantity: Quantity }).annotations({
  ...strict,
  description: "an object with a quantity"
})

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

const sku = HttpApiSchema.param("sku", printable(Sku))

export class InventoryApi extends HttpApiGroup.make("inventory")
  .add(
    HttpApiEndpoint.post("restock")`/inventory/${sku}/restock`
      .setPayload(Restock)
      .addSuccess(Stock)
      .addError(Json.MalformedBody)
      .addError(Json.PayloadTooLarge)
      .addError(Json.UnsupportedMediaType)
  )
  .add(
    HttpApiEndpoint.get("get")`/inventory/${sku}`
      .addSuccess(Stock)
      .addError(ErrorBody.schema(SkuNotFound, 404, "No stock was ever recorded for this SKU"))
  )
{}

// --- Orders --------------------------------------------------------------------------------------------
export const PlaceOrder = Schema.Struct({
  customerId: printable(CustomerId),
  lines: Schema.Array(Schema.Struct({ sku: printable(Sku), quantity: Quantity })).pipe(
    Schema.minItems(1),
    Schema.maxItems(50)
  )
}).annotations({ ...strict, description: "an object with a customerId and 1..50 lines" })
export type PlaceOrder = typeof PlaceOrder.Type

/** An idempotency key: a repeat with the same body returns the first response. */
export const IdempotencyKey = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(255))

export const PlaceOrderHeaders = Schema.Struct({
  "idempotency-key": Schema.optionalWith(IdempotencyKey, { exact: true })
})

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

const orderNotFound = ErrorBody.schema(OrderNotFound, 404, "No such order")

const orderId = HttpApiSchema.param("orderId", printable(OrderId))

export class OrdersApi extends HttpApiGroup.make("orders")
  .add(
    HttpApiEndpoint.post("place", "/orders")
      .setPayload(PlaceOrder)
      .setHeaders(PlaceOrderHeaders)
      .addSuccess(OrderAccepted, { status: 202 })
      .addError(
        ErrorBody.schema(CommandHandler.IdempotencyKeyReused, 422, "The idempotency key was used with another body")
      )
      .addError(Json.MalformedBody)
      .addError(Json.PayloadTooLarge)
      .addError(Json.UnsupportedMediaType)
  )
  .add(
    HttpApiEndpoint.get("get")`/orders/${orderId}`
      .addSuccess(OrderView)
      .addError(orderNotFound)
  )
  .add(
    HttpApiEndpoint.post("cancel")`/orders/${orderId}/cancel`
      .addSuccess(OrderCancelledView)
      .addError(orderNotFound)
      .addError(ErrorBody.schema(OrderNotCancellable, 409, "The order is rejected or cancelled already"))
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
  /** Why the status is not `healthy`, each prefixed by its subscription. */
  reasons: Schema.Array(Schema.String),
  subscriptions: Schema.Array(SubscriptionHealth),
  /** The integration consumers, when the service runs any. */
  consumers: Schema.optionalWith(Schema.Array(SubscriptionHealth), { exact: true })
}

export const HealthReport = Schema.Struct({ status: Schema.Literal("healthy", "degraded"), ...healthFields })

/** The health report when a subscription is unhealthy, or the database cannot be reached. */
export class Unhealthy extends Schema.TaggedError<Unhealthy>()("Unhealthy", {
  status: Schema.Literal("unhealthy"),
  ...healthFields
}) {
  override get message() {
    return this.reasons.join("; ")
  }
}

export class ObservabilityApi extends HttpApiGroup.make("observability")
  .add(
    HttpApiEndpoint.get("health", "/health")
      .addSuccess(HealthReport)
      .addError(ErrorBody.schema(Unhealthy, 503, "A subscription is unhealthy, or the database cannot be reached"))
  )
  .add(
    HttpApiEndpoint.get("metrics", "/metrics")
      .addSuccess(HttpApiSchema.Text({ contentType: "text/plain; version=0.0.4; charset=utf-8" }))
  )
{}

// --- The API -------------------------------------------------------------------------------------------
/**
 * The API answers a request that does not match the contract with `InvalidRequest` instead of
 * the platform's own decoding error (see `JsonErrors`): the document says so.
 */
export const withoutPlatformDecodeError = (spec: Record<string, any>): Record<string, any> => {
  const ref = "#/components/schemas/HttpApiDecodeError"
  for (const operations of Object.values<Record<string, any>>(spec.paths)) {
    for (const operation of Object.values<Record<string, any>>(operations)) {
      const badRequest = operation.responses?.["400"]
      const content = badRequest?.content?.["application/json"]
      if (content === undefined) continue
      const alternatives = (content.schema.anyOf ?? [content.schema]).filter((s: { $ref?: string }) => s.$ref !== ref)
      content.schema = alternatives.length === 1 ? alternatives[0] : { anyOf: alternatives }
      badRequest.description = "The request does not match the contract, or its body is not JSON"
    }
  }
  return { ...spec, components: { ...spec.components, schemas: referenced(spec) } }
}

/** The component schemas the document still refers to. */
const referenced = (spec: Record<string, any>): Record<string, unknown> => {
  const schemas: Record<string, unknown> = spec.components.schemas
  const refs = (value: unknown) =>
    Array.from(JSON.stringify(value).matchAll(/"#\/components\/schemas\/([^"]+)"/g), (m) => m[1]!)
  const kept = new Set<string>()
  const pending = refs({ ...spec, components: { ...spec.components, schemas: {} } })
  while (pending.length > 0) {
    const name = pending.pop()!
    if (kept.has(name)) continue
    kept.add(name)
    pending.push(...refs(schemas[name]))
  }
  return Object.fromEntries(Object.entries(schemas).filter(([name]) => kept.has(name)))
}

export class Api extends HttpApi.make("shop")
  .add(InventoryApi)
  .add(OrdersApi)
  .add(ObservabilityApi)
  .add(AdminApi)
  .addError(Json.InvalidRequest)
  .addError(Json.ServiceUnavailable)
  .annotate(OpenApi.Title, "Shop: orders and inventory")
  .annotate(OpenApi.Version, "1.0.0")
  .annotate(OpenApi.Transform, withoutPlatformDecodeError)
{}
