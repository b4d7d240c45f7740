/**
 * The payment gateway: an external service, faked in-process by default (it declines customers
 * whose id starts with "declined-" and charges everyone else), or reached over HTTP at
 * `PAYMENT_GATEWAY_URL`. The idempotency key makes a repeated charge harmless. `chargePayments` is
 * the subscription that asks it and records its answer.
 */
import { FetchHttpClient, HttpClient, HttpClientRequest, HttpClientResponse } from "@effect/platform"
import { Config, Context, Effect, Layer, Option, Schedule, Schema } from "effect"
import { CommandHandler, Subscription } from "effect-ddd"
import { Payment } from "./Domain/Payment.js"

/** The gateway did not answer, or not as agreed (a transient failure: retried). */
export class GatewayUnavailable extends Schema.TaggedError<GatewayUnavailable>()("GatewayUnavailable", {
  reason: Schema.optionalWith(Schema.String, { exact: true })
}) {
  override get message() {
    return this.reason === undefined
      ? "the payment gateway did not answer"
      : `the payment gateway failed: ${this.reason}`
  }
}

/** The answer of the gateway over HTTP to `POST /charges`. */
export const ChargeAnswer = Schema.Struct({ outcome: Schema.Literal("charged", "declined") })

export class PaymentGateway extends Context.Tag("example/PaymentGateway")<PaymentGateway, {
  readonly charge: (request: {
    readonly customerId: string
    readonly idempotencyKey: string
  }) => Effect.Effect<"charged" | "declined", GatewayUnavailable>
}>() {
  /** The fake gateway: answers at once. */
  static readonly layer = Layer.succeed(PaymentGateway, {
    charge: ({ customerId }) => Effect.succeed(customerId.startsWith("declined-") ? "declined" : "charged")
  })

  /** A gateway that never answers (for the payment timeout). */
  static readonly unavailable = Layer.succeed(PaymentGateway, { charge: () => Effect.fail(new GatewayUnavailable()) })

  /**
   * The gateway over HTTP: `POST {url}/charges` with `{ customerId, idempotencyKey }` (and the key
   * as `Idempotency-Key`), answered 200 `{ "outcome": "charged" | "declined" }`. Any other answer
   * is a failure, retried by the subscription.
   */
  static readonly http = (url: string) =>
    Layer.effect(
      PaymentGateway,
      Effect.map(HttpClient.HttpClient, (client) => ({
        charge: (request) =>
          client.execute(
            HttpClientRequest.post(new URL("charges", url.endsWith("/") ? url : `${url}/`)).pipe(
              HttpClientRequest.setHeader("idempotency-key", request.idempotencyKey),
              HttpClientRequest.bodyUnsafeJson(request)
            )
          ).pipe(
            Effect.flatMap(HttpClientResponse.filterStatusOk),
            Effect.flatMap(HttpClientResponse.schemaBodyJson(ChargeAnswer)),
            Effect.map((answer) => answer.outcome),
            Effect.scoped,
            Effect.mapError((error) => new GatewayUnavailable({ reason: error.message }))
          )
      }))
    ).pipe(Layer.provide(FetchHttpClient.layer))

  /** The gateway at `PAYMENT_GATEWAY_URL`, or the in-process fake when it is unset. */
  static readonly layerConfig = Layer.unwrapEffect(
    Effect.map(
      Config.option(Config.nonEmptyString("PAYMENT_GATEWAY_URL")),
      Option.match({ onNone: () => PaymentGateway.layer, onSome: PaymentGateway.http })
    )
  )
}

/** PaymentRequested -> charge through the gateway -> PaymentCharged or PaymentDeclined. */
// #region subscription
export const chargePayments = Subscription.make({
  name: "charge-payments",
  events: [Subscription.on(Payment, "PaymentRequested")],
  retry: Schedule.exponential("100 millis").pipe(Schedule.intersect(Schedule.recurs(5))),
  handle: (event, envelope) =>
    Effect.gen(function*() {
      const gateway = yield* PaymentGateway
      const answer = yield* gateway.charge({ customerId: event.customerId, idempotencyKey: envelope.eventId }).pipe(
        Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => new GatewayUnavailable() })
      )
      yield* CommandHandler.execute(Payment, event.orderId, answer === "charged" ? "recordCharge" : "recordDecline", {})
        .pipe(Effect.catchTag("PaymentAlreadySettled", () => Effect.void))
    })
})
// #endregion subscription
