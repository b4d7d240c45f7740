/**
 * The payment gateway: an external service, faked here. It declines customers whose id starts
 * with "declined-" and charges everyone else; the idempotency key makes a repeated charge
 * harmless. `chargePayments` is the subscription that asks it and records its answer.
 */
import { Context, Effect, Layer, Schedule, Schema } from "effect"
import { CommandHandler, Subscription } from "effect-ddd"
import { Payment } from "./Domain/Payment.js"

/** The gateway did not answer (a transient failure: retried). */
export class GatewayUnavailable extends Schema.TaggedError<GatewayUnavailable>()("GatewayUnavailable", {}) {
  override get message() {
    return "the payment gateway did not answer"
  }
}

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
}

/** PaymentRequested -> charge through the gateway -> PaymentCharged or PaymentDeclined. */
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
