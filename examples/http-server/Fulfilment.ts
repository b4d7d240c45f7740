/**
 * Order fulfilment in the server: the relay runs the `OrderFulfilment` process manager (reserve
 * each SKU, charge the payment, confirm or reject with compensation, give stock back on cancel)
 * and the subscription that charges payments through the payment gateway. An order waits
 * `PAYMENT_TIMEOUT` (default 10 seconds) for the gateway's answer. On shutdown the relay first
 * lets the deliveries of events already committed finish (for a few seconds at most).
 */
import { Config, Context, Effect, Layer } from "effect"
import { ProcessManager, Relay } from "effect-ddd"
import { makeFulfilment } from "./OrderFulfilment.js"
import { chargePayments, PaymentGateway } from "./PaymentGateway.js"
import * as RelayDrain from "./RelayDrain.js"

const PaymentTimeout = Config.duration("PAYMENT_TIMEOUT").pipe(Config.withDefault("10 seconds"))

export const subscriptions = [chargePayments]

/** Every subscription the relay delivers, the process manager's included. */
export const delivered = [...subscriptions, ...ProcessManager.subscriptions(makeFulfilment())]

export const FulfilmentLive = Layer.unwrapEffect(
  Effect.map(PaymentTimeout, (paymentTimeout) =>
    RelayDrain.layer(delivered).pipe(
      Layer.provideMerge(Relay.layer({ subscriptions, processManagers: [makeFulfilment({ paymentTimeout })] })),
      Layer.provide(PaymentGateway.layerConfig),
      Layer.tap((context) =>
        Effect.log(`relay ${Context.get(context, Relay.Relay).owner} started: ${
          delivered.map((s) => `${s.name} (${s.partitions} partitions)`).join(", ")
        }`)
      )
    ))
)
