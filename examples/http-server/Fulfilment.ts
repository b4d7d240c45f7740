/**
 * Order fulfilment in the server: the relay runs the `OrderFulfilment` process manager (reserve
 * each SKU, charge the payment, confirm or reject with compensation, give stock back on cancel)
 * and the subscription that charges payments through the fake gateway. On shutdown it first lets
 * the deliveries of events already committed finish (for a few seconds at most).
 */
import { Context, Effect, Layer } from "effect"
import { ProcessManager, Relay } from "effect-ddd"
import { OrderFulfilment } from "./OrderFulfilment.js"
import { chargePayments, PaymentGateway } from "./PaymentGateway.js"
import * as RelayDrain from "./RelayDrain.js"

export const subscriptions = [chargePayments]
export const processManagers = [OrderFulfilment]

/** Every subscription the relay delivers, the process managers' included. */
export const delivered = [...subscriptions, ...processManagers.flatMap(ProcessManager.subscriptions)]

export const FulfilmentLive = RelayDrain.layer(delivered).pipe(
  Layer.provideMerge(Relay.layer({ subscriptions, processManagers })),
  Layer.provide(PaymentGateway.layer),
  Layer.tap((context) =>
    Effect.log(`relay ${Context.get(context, Relay.Relay).owner} started: ${
      delivered.map((s) => `${s.name} (${s.partitions} partitions)`).join(", ")
    }`)
  )
)
