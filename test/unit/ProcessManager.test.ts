import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Option, Schema, TestClock } from "effect"
import { CommandHandler, MemoryEventStore, ProcessManager, Relay, Subscription } from "effect-ddd"
import { ProcessManagerSpec } from "effect-ddd/testing"
import { Inventory } from "../../examples/http-server/Domain/Inventory.js"
import { Order, OrderId, Sku } from "../../examples/http-server/Domain/Order.js"
import { delivery, type Stores } from "../support/stores.js"

/** A toy process: an order not confirmed within an hour is rejected, and the process completes. */
const Expiry = ProcessManager.make({
  name: "OrderExpiry",
  state: Schema.Struct({ orderId: Schema.String }),
  events: [Subscription.on(Order, "OrderPlaced", "OrderConfirmed")],
  startedBy: ["OrderPlaced"],
  correlate: (event) => event.orderId,
  sends: [Order]
})({
  initial: (orderId) => ({ orderId }),
  react: (state, input) => {
    switch (input._tag) {
      case "OrderPlaced":
        return { state, deadlines: [{ name: "expiry", after: "1 hour" }] }
      case "OrderConfirmed":
        return { state, end: ProcessManager.complete }
      case "DeadlineReached":
        return {
          state,
          commands: [ProcessManager.send(Order, OrderId.make(state.orderId), "reject", { reason: "payment timeout" })],
          end: ProcessManager.complete
        }
      default:
        return { state }
    }
  }
})

/** A moment of real time, for the relay's I/O turns (the test clock does not move by itself). */
const realPause = Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, 2)))

/**
 * Let the relay's fibers run, moving the test clock a little at a time, until `check` passes. A
 * minute of real time only ends a hang.
 */
const settle = <A, E, R>(check: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const hang = Date.now() + 60_000
    while (Date.now() < hang) {
      const result = yield* Effect.either(check)
      if (result._tag === "Right") return result.right
      yield* TestClock.adjust("1 millis")
      yield* realPause
    }
    return yield* check
  })

const expectTrue = (condition: boolean, what: string) => (condition ? Effect.void : Effect.fail(what))

const Stores = Layer.provideMerge(CommandHandler.layer(), MemoryEventStore.layer)

describe("ProcessManager", () => {
  it.scoped("deadlines are stored and delivered when due, driven by TestClock", () =>
    Effect.gen(function*() {
      yield* Layer.build(Relay.layer({ subscriptions: [], processManagers: [Expiry], pollInterval: "1 day" }))
      const { deadlines } = yield* delivery
      const orderId = OrderId.make("order-1")
      yield* CommandHandler.execute(Order, orderId, "place", {
        customerId: "ada",
        lines: [{ sku: Sku.make("a"), quantity: 1 }]
      })
      const dueAt = yield* settle(Effect.flatMap(deadlines.next(Expiry.name), (next) =>
        Option.isSome(next) ? Effect.succeed(next.value) : Effect.fail("no deadline yet")))
      expect(dueAt).toBe(3_600_000)

      // a minute early: nothing is due (what the relay's deadline runner delivers, it asks this)
      yield* TestClock.adjust("59 minutes")
      expect(yield* ProcessManager.deliverDueDeadlines(Expiry)).toBe(0)
      expect((yield* CommandHandler.load(Order, orderId)).state.status).toBe("pending")

      yield* TestClock.adjust("1 minute")
      yield* settle(Effect.flatMap(CommandHandler.load(Order, orderId), ({ state }) =>
        expectTrue(state.status === "rejected", `order is ${state.status}`)))
      expect((yield* CommandHandler.load(Order, orderId)).state.reason).toBe("payment timeout")
      const instance = yield* settle(Effect.flatMap(ProcessManager.load(Expiry, orderId), (instance) =>
        Effect.as(
          expectTrue(
            instance.steps.every((s) =>
              s.outcome === "succeeded"
            ),
            "reject pending"
          ),
          instance
        )))
      expect(instance.status).toBe("completed")
      expect(yield* deadlines.next(Expiry.name)).toEqual(Option.none())
    }).pipe(Effect.provide(Stores)))

  it.scoped("a completed process ignores later events and deadlines", () =>
    Effect.gen(function*() {
      yield* Layer.build(Relay.layer({ subscriptions: [], processManagers: [Expiry], pollInterval: "1 day" }))
      const orderId = OrderId.make("order-2")
      yield* CommandHandler.execute(Order, orderId, "place", {
        customerId: "ada",
        lines: [{ sku: Sku.make("a"), quantity: 1 }]
      })
      yield* settle(
        Effect.flatMap(ProcessManager.load(Expiry, orderId), (i) => expectTrue(i.status === "running", i.status))
      )
      yield* CommandHandler.execute(Order, orderId, "confirm", {})
      yield* settle(
        Effect.flatMap(ProcessManager.load(Expiry, orderId), (i) => expectTrue(i.status === "completed", i.status))
      )
      // its deadline was due an hour ago: delivered now if it were still there, it must change nothing
      yield* TestClock.adjust("2 hours")
      yield* ProcessManager.deliverDueDeadlines(Expiry)
      expect((yield* CommandHandler.load(Order, orderId)).state.status).toBe("confirmed")
      expect((yield* ProcessManager.load(Expiry, orderId)).steps).toEqual([])
    }).pipe(Effect.provide(Stores)))

  it("a process that sends to an aggregate it did not declare is a defect naming both", () => {
    const Wrong = ProcessManager.make({
      name: "Wrong",
      state: Schema.Struct({}),
      events: [Subscription.on(Order, "OrderPlaced")],
      startedBy: ["OrderPlaced"],
      correlate: (event) => event.orderId,
      sends: [Order]
    })({
      initial: () => ({}),
      react: (state, input) =>
        input._tag === "OrderPlaced"
          ? { state, commands: [ProcessManager.send(Inventory, Sku.make("a"), "release", { orderId: input.orderId })] }
          : { state }
    })
    const orderId = OrderId.make("order-3")
    expect(() =>
      ProcessManagerSpec.make(Wrong, orderId).given([]).when({
        _tag: "OrderPlaced",
        orderId,
        customerId: "c",
        lines: []
      })
    ).toThrow("process manager Wrong sends Inventory.release, which is not among its `sends`")
  })

  it("ProcessManagerSpec: a spec that expects the wrong commands fails", () => {
    const orderId = OrderId.make("order-4")
    const placed = { _tag: "OrderPlaced", orderId, customerId: "c", lines: [] } as const
    expect(() =>
      ProcessManagerSpec.make(Expiry, orderId).given([placed]).when(ProcessManagerSpec.deadline("expiry")).then([])
    ).toThrow()
    ProcessManagerSpec.make(Expiry, orderId).given([placed]).when(ProcessManagerSpec.deadline("expiry"))
      .then([ProcessManager.send(Order, orderId, "reject", { reason: "payment timeout" })])
      .thenStatus("completed")
    expect(() =>
      ProcessManagerSpec.make(Expiry, orderId).given([]).when(ProcessManagerSpec.succeeded(Order, orderId, "reject"))
    )
      .toThrow("no pending Order/order-4 reject")
  })
})
