/**
 * When the order fulfilment law (`test/contracts/FulfilmentProperty.ts`) may check its invariants:
 * its `quiet` must not be fooled by a process that has no command on its way while an event for
 * it is still being retried.
 */
import { expect, layer } from "@effect/vitest"
import { Deferred, Effect, Either, Layer, Ref, Schedule } from "effect"
import { CommandHandler, EventStore, MemoryEventStore, ProcessManager, Relay } from "effect-ddd"
import { randomUUID } from "node:crypto"
import { Order } from "../../examples/http-server/Domain/Order.js"
import { makeFulfilment } from "../../examples/http-server/OrderFulfilment.js"
import { chargePayments, GatewayUnavailable, PaymentGateway } from "../../examples/http-server/PaymentGateway.js"
import { eventually } from "../contracts/RelayContract.js"
import { workload } from "../support/fulfilmentWorkload.js"

const retry = Schedule.spaced("10 millis")

/** What an effect failed with, or a note that it succeeded. */
const failure = (result: Either.Either<unknown, unknown>) =>
  Either.match(result, { onLeft: String, onRight: () => "(succeeded)" })

layer(Layer.provideMerge(CommandHandler.layer(), MemoryEventStore.layer), { excludeTestServices: true })(
  "The fulfilment workload's quiet",
  (it) => {
    it.effect("a cancellation still being retried is not quiet, though the process has nothing on its way", () =>
      Effect.gen(function*() {
        const handler = yield* CommandHandler.CommandHandler
        // restock 2 of sku-1, order 1 of it, cancel the order: all committed before the relay starts
        const { commands, invariants, orders, quiet } = workload([
          { op: "restock", sku: 1, quantity: 2 },
          { op: "order", declined: false, lines: [{ sku: 1, quantity: 1 }] },
          { op: "cancel", which: 0 }
        ], `${randomUUID()}-`)
        const order = orders[0]!
        const pm = makeFulfilment({ retry, paymentTimeout: "1 hour" })
        const subscriptions = [...ProcessManager.subscriptions(pm), { ...chargePayments, retry }]

        // while held: feeding the cancellation to the process fails after its effect (its delivery
        // rolls back and is retried), and the gateway does not answer (the payment is retried)
        const held = yield* Ref.make(true)
        const cancellationFailed = yield* Deferred.make<void>()
        const charging = yield* Deferred.make<void>()
        const faulty: CommandHandler.Service = {
          ...handler,
          execute: (aggregate, id, command, input, options) =>
            Effect.flatMap(handler.execute(aggregate, id, command, input, options), (result) =>
              Effect.gen(function*() {
                const cancellation = aggregate.name === pm.name &&
                  (input as { readonly input: { readonly _tag: string } }).input._tag === "OrderCancelled"
                if (!cancellation || !(yield* Ref.get(held))) return result
                yield* Deferred.succeed(cancellationFailed, undefined)
                return yield* new EventStore.EventStoreError({
                  reason: "Unavailable",
                  detail: "fault after the effect"
                })
              }))
        }
        const gateway = Layer.succeed(PaymentGateway, {
          charge: () =>
            Effect.zipRight(
              Deferred.succeed(charging, undefined),
              Effect.flatMap(
                Ref.get(held),
                (stillHeld) => stillHeld ? Effect.fail(new GatewayUnavailable()) : Effect.succeed("charged" as const)
              )
            )
        })
        const relay = Relay.layer({ subscriptions, pollInterval: "50 millis", leaseTtl: "5 seconds" }).pipe(
          Layer.provide(gateway),
          Layer.provide(Layer.succeed(CommandHandler.CommandHandler, faulty))
        )

        yield* Effect.scoped(Effect.gen(function*() {
          yield* Layer.build(relay)
          for (const command of commands) yield* command
          // the payment is requested once the reservation succeeded; the cancellation keeps failing
          yield* Deferred.await(cancellationFailed)
          yield* Deferred.await(charging)

          // what reading the orders and processes alone took for quiet: the order is not pending,
          // its process started and has no command on its way...
          expect((yield* CommandHandler.load(Order, order.id)).state.status).toBe("cancelled")
          const instance = yield* ProcessManager.load(pm, order.id)
          expect(instance.status).toBe("running")
          expect(instance.steps.map((s) => [s.command, s.outcome])).toEqual([
            ["reserve", "succeeded"],
            ["request", "succeeded"]
          ])
          // ...yet the unit is still reserved: the process has not received the cancellation
          expect(failure(yield* Effect.either(invariants))).toMatch(/reserved 1, sold 0; restocked 2/)
          expect(failure(yield* Effect.either(quiet(pm, subscriptions)))).toMatch(
            /^OrderFulfilment\/\d+ has events to deliver/
          )

          yield* Ref.set(held, false)
          yield* eventually(quiet(pm, subscriptions))
        }))
        yield* invariants
        expect((yield* ProcessManager.load(pm, order.id)).status).toBe("compensated")
      }))
  }
)
