/**
 * The order fulfilment process end to end through the relay, on memory, SQLite and PostgreSQL:
 * `suite("memory", MemoryEventStore.layer)`.
 */
import { describe, expect, layer } from "@effect/vitest"
import { type Duration, Effect, Layer, Option } from "effect"
import { CommandHandler, DomainEvent, EventStore, ProcessManager, Relay, type Subscription } from "effect-ddd"
import { randomUUID } from "node:crypto"
import { Inventory } from "../../examples/http-server/Domain/Inventory.js"
import { Order, OrderId, type RejectionReason, Sku } from "../../examples/http-server/Domain/Order.js"
import { Payment } from "../../examples/http-server/Domain/Payment.js"
import { makeFulfilment } from "../../examples/http-server/OrderFulfilment.js"
import { chargePayments, PaymentGateway } from "../../examples/http-server/PaymentGateway.js"
import { delivery, type Stores } from "../support/stores.js"
import { eventually } from "./RelayContract.js"

const fresh = (prefix: string) => `${prefix}-${randomUUID()}`
const expectEffect = (f: () => void) => Effect.try({ try: f, catch: (error) => error })

/** Run `use` while the relay runs the fulfilment process and the payment subscription. */
export const withFulfilment = <A, E, R>(
  use: Effect.Effect<A, E, R>,
  options: {
    readonly paymentTimeout?: Duration.DurationInput
    readonly gateway?: Layer.Layer<PaymentGateway>
    readonly subscriptions?: ReadonlyArray<Subscription.Any>
  } = {}
) =>
  Effect.scoped(Effect.flatMap(
    Layer.build(
      Relay.layer({
        subscriptions: [chargePayments, ...(options.subscriptions ?? [])],
        // no payment deadline unless a test is about one: a loaded machine must not reach it
        processManagers: [makeFulfilment({ paymentTimeout: options.paymentTimeout ?? "1 hour" })],
        pollInterval: "50 millis",
        leaseTtl: "2 seconds"
      }).pipe(Layer.provide(options.gateway ?? PaymentGateway.layer))
    ),
    (context) => Effect.provide(use, context)
  ))

const restock = (quantities: Record<string, number>) =>
  Effect.forEach(
    Object.entries(quantities),
    ([sku, quantity]) => CommandHandler.execute(Inventory, Sku.make(sku), "restock", { quantity }),
    { discard: true }
  )

const place = (customerId: string, lines: ReadonlyArray<readonly [string, number]>) =>
  Effect.gen(function*() {
    const orderId = OrderId.make(fresh("order"))
    yield* CommandHandler.execute(Order, orderId, "place", {
      customerId,
      lines: lines.map(([sku, quantity]) => ({ sku: Sku.make(sku), quantity }))
    })
    return orderId
  })

const stockOf = (sku: string) =>
  Effect.map(
    CommandHandler.load(Inventory, Sku.make(sku)),
    ({ state }) => [state.available, state.reserved, state.sold]
  )

/** Wait until the order is no longer pending; check its outcome. */
const settles = (orderId: OrderId, status: "confirmed" | "rejected", reason?: RejectionReason) =>
  eventually(Effect.gen(function*() {
    const { state } = yield* CommandHandler.load(Order, orderId)
    yield* expectEffect(() => expect({ status: state.status, reason: state.reason }).toEqual({ status, reason }))
  }))

/** Wait until the process instance has ended with this status. */
const ends = (orderId: OrderId, status: ProcessManager.Status, reason?: string) =>
  eventually(Effect.gen(function*() {
    const instance = yield* ProcessManager.load(makeFulfilment(), orderId)
    yield* expectEffect(() => expect({ status: instance.status, reason: instance.reason }).toEqual({ status, reason }))
    return instance
  }))

export const suite = <E>(name: string, store: Layer.Layer<Stores, E>) =>
  layer(Layer.provideMerge(CommandHandler.layer(), store), { timeout: 120_000, excludeTestServices: true })(
    `Order fulfilment: ${name}`,
    (it) => {
      describe("through the relay", () => {
        it.effect("charged: the order is confirmed and its stock sold", () =>
          Effect.gen(function*() {
            const [apple, pear] = [fresh("apple"), fresh("pear")]
            yield* restock({ [apple]: 5, [pear]: 5 })
            const orderId = yield* place("ada", [[apple, 2], [pear, 1], [apple, 1]])
            yield* withFulfilment(Effect.gen(function*() {
              yield* settles(orderId, "confirmed")
              yield* eventually(
                Effect.flatMap(stockOf(pear), (pearStock) => expectEffect(() => expect(pearStock).toEqual([4, 0, 1])))
              )
            }))
            expect(yield* stockOf(apple)).toEqual([2, 0, 3])
            expect((yield* CommandHandler.load(Payment, orderId)).state.status).toBe("charged")
            const instance = yield* ProcessManager.load(makeFulfilment(), orderId)
            expect(instance.status).toBe("running")
            expect(instance.state.phase).toBe("confirmed")
            expect(instance.steps.every((s) => s.outcome === "succeeded")).toBe(true)
          }))

        it.effect("a short SKU: what was reserved is released, the order rejected for insufficient stock", () =>
          Effect.gen(function*() {
            const [apple, pear] = [fresh("apple"), fresh("pear")]
            yield* restock({ [apple]: 5, [pear]: 1 })
            const orderId = yield* place("ada", [[apple, 2], [pear, 2]])
            yield* withFulfilment(ends(orderId, "compensated", "insufficient stock"))
            yield* settles(orderId, "rejected", "insufficient stock")
            expect(yield* stockOf(apple)).toEqual([5, 0, 0])
            expect(yield* stockOf(pear)).toEqual([1, 0, 0])
          }))

        it.effect("declined by the gateway: everything released, the order rejected for payment declined", () =>
          Effect.gen(function*() {
            const apple = fresh("apple")
            yield* restock({ [apple]: 5 })
            const orderId = yield* place("declined-bob", [[apple, 2]])
            yield* withFulfilment(ends(orderId, "compensated", "payment declined"))
            yield* settles(orderId, "rejected", "payment declined")
            expect((yield* CommandHandler.load(Payment, orderId)).state.status).toBe("declined")
            expect(yield* stockOf(apple)).toEqual([5, 0, 0])
          }))

        it.effect("no payment answer before the deadline: released, rejected for payment timeout", () =>
          Effect.gen(function*() {
            const apple = fresh("apple")
            yield* restock({ [apple]: 5 })
            const orderId = yield* place("ada", [[apple, 2]])
            yield* withFulfilment(ends(orderId, "compensated", "payment timeout"), {
              paymentTimeout: "300 millis",
              gateway: PaymentGateway.unavailable
            })
            yield* settles(orderId, "rejected", "payment timeout")
            expect(yield* stockOf(apple)).toEqual([5, 0, 0])
            const { deadlines } = yield* delivery
            expect(yield* deadlines.next("OrderFulfilment")).toEqual(Option.none())
          }))

        it.effect("cancelling a pending order releases its stock; cancelling a confirmed one returns it", () =>
          Effect.gen(function*() {
            const apple = fresh("apple")
            yield* restock({ [apple]: 10 })
            // the gateway does not answer: the first order waits for its payment, reserved
            const pending = yield* place("ada", [[apple, 3]])
            yield* withFulfilment(
              Effect.gen(function*() {
                yield* eventually(
                  Effect.flatMap(stockOf(apple), (stock) => expectEffect(() => expect(stock).toEqual([7, 3, 0])))
                )
                yield* CommandHandler.execute(Order, pending, "cancel", {})
                yield* ends(pending, "compensated", "cancelled")
              }),
              { gateway: PaymentGateway.unavailable }
            )
            expect(yield* stockOf(apple)).toEqual([10, 0, 0])

            const confirmed = yield* place("ada", [[apple, 4]])
            yield* withFulfilment(Effect.gen(function*() {
              yield* settles(confirmed, "confirmed")
              yield* eventually(
                Effect.flatMap(stockOf(apple), (stock) => expectEffect(() => expect(stock).toEqual([6, 0, 4])))
              )
              yield* CommandHandler.execute(Order, confirmed, "cancel", {})
              yield* ends(confirmed, "compensated", "cancelled")
            }))
            expect(yield* stockOf(apple)).toEqual([10, 0, 0])
            expect((yield* CommandHandler.load(Order, confirmed)).state.status).toBe("cancelled")
          }))

        it.effect("a command delivered twice is executed once; an event fed twice is reacted to once", () =>
          Effect.gen(function*() {
            const apple = fresh("apple")
            yield* restock({ [apple]: 5 })
            const orderId = yield* place("ada", [[apple, 2]])
            const pm = makeFulfilment()
            const store = yield* EventStore.EventStore
            const [storedPlaced] = yield* store.readStream(Order.name, orderId, 0)
            const placed = yield* DomainEvent.decodeStored(Order, storedPlaced!)
            // the process reacts to OrderPlaced: its first command (reserve) is in the outbox
            const react = store.withTransaction(
              ProcessManager.reactions(pm).handle(placed.payload as never, placed as never)
            )
            yield* react
            const [, storedIssued] = yield* store.readStream(pm.name, orderId, 0)
            const issued = yield* DomainEvent.decodeStored(pm.instances, storedIssued!)
            expect(issued.eventType).toBe("CommandIssued")
            const dispatch = store.withTransaction(
              ProcessManager.dispatcher(pm).handle(issued.payload as never, issued as never)
            )
            yield* dispatch
            yield* dispatch
            expect(yield* stockOf(apple)).toEqual([3, 2, 0])
            const reserved = (yield* store.readStream(Inventory.name, apple, 0)).filter((e) =>
              e.eventType === "StockReserved"
            )
            expect(reserved).toHaveLength(1)
            const instance = yield* ProcessManager.load(pm, orderId)
            // reserve succeeded (once), the payment request it led to waits
            expect(instance.steps.map((s) => [s.command, s.outcome])).toEqual([["reserve", "succeeded"], [
              "request",
              "pending"
            ]])
            const settled = (yield* store.readStream(pm.name, orderId, 0)).filter((e) =>
              e.eventType === "CommandSettled"
            )
            expect(settled).toHaveLength(1)
            yield* react
            expect((yield* ProcessManager.load(pm, orderId)).steps).toHaveLength(2)
          }))
      })
    }
  )
