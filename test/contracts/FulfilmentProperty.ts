/**
 * A law of the order fulfilment process, checked on memory, SQLite and PostgreSQL: for random
 * restocks, orders (some from declined customers) and cancellations, with handlers failing at
 * random after their effects (the batch is rolled back and delivered again), the payment gateway
 * failing at random, and every event delivered twice, once the system is quiet:
 * - stock is conserved per SKU: available + reserved + sold = restocked, none negative, nothing
 *   left reserved, sold = the units of the confirmed orders;
 * - no order stays pending; declined customers are never confirmed;
 * - nothing is dead-lettered.
 */
import { expect, layer } from "@effect/vitest"
import { Effect, FastCheck as fc, Layer, Schedule } from "effect"
import { CommandHandler, EventStore, Outbox, ProcessManager, Relay, Subscription } from "effect-ddd"
import { randomUUID } from "node:crypto"
import { Inventory } from "../../examples/http-server/Domain/Inventory.js"
import { Order, OrderId, Sku } from "../../examples/http-server/Domain/Order.js"
import { makeFulfilment } from "../../examples/http-server/OrderFulfilment.js"
import { chargePayments, GatewayUnavailable, PaymentGateway } from "../../examples/http-server/PaymentGateway.js"
import { eventually } from "./RelayContract.js"

type Operation =
  | { readonly op: "restock"; readonly sku: number; readonly quantity: number }
  | {
    readonly op: "order"
    readonly declined: boolean
    readonly lines: ReadonlyArray<{ readonly sku: number; readonly quantity: number }>
  }
  | { readonly op: "cancel"; readonly which: number }

const SKUS = 3
const sku = fc.integer({ min: 0, max: SKUS - 1 })
const operation: fc.Arbitrary<Operation> = fc.oneof(
  fc.record({ op: fc.constant("restock" as const), sku, quantity: fc.integer({ min: 1, max: 6 }) }),
  fc.record({
    op: fc.constant("order" as const),
    declined: fc.boolean(),
    lines: fc.array(fc.record({ sku, quantity: fc.integer({ min: 1, max: 4 }) }), { minLength: 1, maxLength: 3 })
  }),
  fc.record({ op: fc.constant("cancel" as const), which: fc.nat() })
)

/** A small seeded generator (mulberry32). */
const random = (seed: number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** A command handler whose commands fail at random after their effects (a crash before commit). */
const flaky = (inner: CommandHandler.Service, next: () => number, rate: number): CommandHandler.Service => ({
  ...inner,
  execute: (aggregate, id, command, input, options) =>
    Effect.flatMap(inner.execute(aggregate, id, command, input, options), (result) =>
      next() < rate
        ? Effect.fail(new EventStore.EventStoreError({ reason: "Unavailable", detail: "injected fault after the effect" }))
        : Effect.succeed(result))
})

/** Every event handled twice in its transaction, as a redelivery would. */
const twice = (subscription: Subscription.Any): Subscription.Any => ({
  ...subscription,
  handle: (event, envelope) => Effect.zipRight(subscription.handle(event, envelope), subscription.handle(event, envelope))
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
  store: Layer.Layer<EventStore.EventStore | Outbox.Outbox, E>,
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
            const next = random(seed)
            const handler = yield* CommandHandler.CommandHandler
            const outbox = yield* Outbox.Outbox
            const skus = Array.from({ length: SKUS }, () => Sku.make(`sku-${randomUUID()}`))
            const restocked = skus.map(() => 0)
            const orders: Array<{ readonly id: OrderId; readonly declined: boolean; readonly units: Array<number> }> = []
            const pm = makeFulfilment({ retry: fastRetry })
            const relay = Relay.layer({
              subscriptions: [...ProcessManager.subscriptions(pm), { ...chargePayments, retry: fastRetry }].map(twice),
              pollInterval: "50 millis",
              leaseTtl: "5 seconds"
            }).pipe(
              Layer.provide(flakyGateway(next)),
              Layer.provide(Layer.succeed(CommandHandler.CommandHandler, flaky(handler, next, 0.15)))
            )

            yield* Effect.scoped(Effect.gen(function*() {
              yield* Layer.build(relay)
              for (const operation of operations) {
                if (operation.op === "restock") {
                  yield* handler.execute(Inventory, skus[operation.sku]!, "restock", { quantity: operation.quantity })
                  restocked[operation.sku]! += operation.quantity
                } else if (operation.op === "order") {
                  const id = OrderId.make(`order-${randomUUID()}`)
                  yield* handler.execute(Order, id, "place", {
                    customerId: operation.declined ? "declined-customer" : "customer",
                    lines: operation.lines.map((l) => ({ sku: skus[l.sku]!, quantity: l.quantity }))
                  })
                  const units = skus.map(() => 0)
                  for (const line of operation.lines) units[line.sku]! += line.quantity
                  orders.push({ id, declined: operation.declined, units })
                } else if (orders.length > 0) {
                  const order = orders[operation.which % orders.length]!
                  yield* Effect.ignore(handler.execute(Order, order.id, "cancel", {}))
                }
              }
              // quiet: no order pending, every process started and none with a command on its way
              yield* eventually(
                Effect.gen(function*() {
                  for (const order of orders) {
                    const { state } = yield* handler.load(Order, order.id)
                    if (state.status === "pending") return yield* Effect.fail(`order ${order.id} pending`)
                    const instance = yield* ProcessManager.load(pm, order.id)
                    const busy = instance.status === "new" || instance.status === "compensating" ||
                      instance.steps.some((s) => s.outcome === "pending")
                    if (busy) {
                      return yield* Effect.fail(`process ${order.id} busy`)
                    }
                  }
                }),
                "60 seconds"
              )
            }))

            const sold = skus.map(() => 0)
            for (const order of orders) {
              const { state } = yield* handler.load(Order, order.id)
              expect(["confirmed", "rejected", "cancelled"]).toContain(state.status)
              if (order.declined) expect(state.status).not.toBe("confirmed")
              if (state.status === "confirmed") order.units.forEach((units, i) => (sold[i]! += units))
            }
            for (let i = 0; i < SKUS; i++) {
              const { state } = yield* handler.load(Inventory, skus[i]!)
              // reservations name the orders still holding stock, should one be left
              expect({ sku: i, total: state.available + state.reserved + state.sold, reservations: state.reservations, sold: state.sold })
                .toEqual({ sku: i, total: restocked[i], reservations: {}, sold: sold[i] })
              expect(state.available).toBeGreaterThanOrEqual(0)
            }
            const letters = yield* outbox.deadLetters({})
            expect(letters.filter((l) => orders.some((o) => o.id === l.aggregateId))).toEqual([])
          }),
        { timeout: 300_000, fastCheck: { numRuns } }
      )
    }
  )
