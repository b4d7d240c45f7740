/**
 * A law of the order fulfilment process, checked on memory, SQLite and PostgreSQL: for random
 * restocks, orders (some from declined customers) and cancellations, with handlers failing at
 * random after their effects (the batch is rolled back and delivered again), the payment gateway
 * failing at random, and every event delivered twice, once the system is quiet (every
 * subscription has delivered the log, none retrying an event; no process with a command on its
 * way):
 * - stock is conserved per SKU: available + reserved + sold = restocked, none negative, nothing
 *   left reserved, sold = the units of the confirmed orders;
 * - no order stays pending; declined customers are never confirmed;
 * - nothing is dead-lettered.
 *
 * The runs are drawn from the chaos runs' seed (`CHAOS_SEED`): fixed in `npm test`, new in
 * `npm run test:chaos` (which runs the memory one), or with `CHAOS=full`; fast-check prints the
 * seed and path of a failure, which replay it: `CHAOS_SEED=<seed> CHAOS_PATH=<path>`.
 */
import { expect, layer } from "@effect/vitest"
import { Effect, FastCheck as fc, Layer, Schedule } from "effect"
import { CommandHandler, EventStore, ProcessManager, Relay, type Subscription } from "effect-ddd"
import { Simulation } from "effect-ddd/testing"
import { randomUUID } from "node:crypto"
import { makeFulfilment } from "../../examples/http-server/OrderFulfilment.js"
import { chargePayments, GatewayUnavailable, PaymentGateway } from "../../examples/http-server/PaymentGateway.js"
import { operation, workload } from "../support/fulfilmentWorkload.js"
import { pathOf, seedOf } from "../support/seed.js"
import { delivery, type Stores } from "../support/stores.js"
import { eventually } from "./RelayContract.js"

/** A command handler whose commands fail at random after their effects (a crash before commit). */
const flaky = (inner: CommandHandler.Service, next: () => number, rate: number): CommandHandler.Service => ({
  ...inner,
  execute: (aggregate, id, command, input, options) =>
    Effect.flatMap(inner.execute(aggregate, id, command, input, options), (result) =>
      next() < rate
        ? Effect.fail(
          new EventStore.EventStoreError({ reason: "Unavailable", detail: "injected fault after the effect" })
        )
        : Effect.succeed(result))
})

/** Every event handled twice in its transaction, as a redelivery would. */
const twice = (subscription: Subscription.Any): Subscription.Any => ({
  ...subscription,
  handle: (event, envelope) =>
    Effect.zipRight(subscription.handle(event, envelope), subscription.handle(event, envelope))
})

/** A gateway that fails a few times per payment before it answers. */
const flakyGateway = (next: () => number) =>
  Layer.succeed(PaymentGateway, {
    charge: ({ customerId }) =>
      next() < 0.3
        ? Effect.fail(new GatewayUnavailable())
        : Effect.succeed(customerId.startsWith("declined-") ? "declined" as const : "charged" as const)
  })

const fastRetry = Schedule.spaced("5 millis").pipe(Schedule.intersect(Schedule.recurs(20)))

export const property = <E>(
  name: string,
  store: Layer.Layer<Stores, E>,
  numRuns: number
) =>
  layer(Layer.provideMerge(CommandHandler.layer(), store), { timeout: 600_000, excludeTestServices: true })(
    `Order fulfilment law: ${name}`,
    (it) => {
      it.effect.prop(
        "stock is conserved, no order stays pending, under handler failures and redeliveries",
        [fc.array(operation, { minLength: 3, maxLength: 16 }), fc.integer()],
        ([operations, seed]) =>
          Effect.gen(function*() {
            const next = Simulation.generator(seed)
            const handler = yield* CommandHandler.CommandHandler
            const { deadLetters } = yield* delivery
            const { commands, invariants, orders, quiet } = workload(operations, `${randomUUID()}-`)
            const pm = makeFulfilment({ retry: fastRetry })
            const charge = { ...chargePayments, retry: fastRetry }
            const subscriptions = [...ProcessManager.subscriptions(pm), charge].map(twice)
            const relay = Relay.layer({
              subscriptions,
              pollInterval: "50 millis",
              leaseTtl: "5 seconds"
            }).pipe(
              Layer.provide(flakyGateway(next)),
              Layer.provide(Layer.succeed(CommandHandler.CommandHandler, flaky(handler, next, 0.15)))
            )

            yield* Effect.scoped(Effect.gen(function*() {
              yield* Layer.build(relay)
              for (const command of commands) yield* Effect.ignore(command)
              // every event delivered (none being retried), no process busy
              yield* eventually(quiet(pm, subscriptions), "60 seconds")
            }))

            yield* invariants
            const letters = yield* deadLetters.list({})
            expect(letters.filter((l) => orders.some((o) => o.id === l.aggregateId))).toEqual([])
          }),
        { timeout: 300_000, fastCheck: { numRuns, seed: seedOf("CHAOS_SEED", 20_261_207), ...pathOf("CHAOS_PATH") } }
      )
    }
  )
