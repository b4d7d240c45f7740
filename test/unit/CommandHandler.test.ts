import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, TestClock } from "effect"
import { CommandHandler, IdGenerator, MemoryEventStore, Telemetry } from "effect-ddd"
import { Inventory } from "../../examples/http-server/Domain/Inventory.js"
import { Sku } from "../../examples/http-server/Domain/Order.js"

// span ids are random: without tracing, no traceparent is stored
const Deterministic = CommandHandler.layer().pipe(
  Layer.provide(MemoryEventStore.layer),
  Layer.provide(IdGenerator.layerSequential),
  Layer.provide(Telemetry.layer({ tracing: false }))
)

describe("CommandHandler", () => {
  it.effect("ids and time come from services, so envelopes are deterministic", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(Date.UTC(2026, 0, 1))
      const sku = Sku.make("apple")
      const first = yield* CommandHandler.execute(Inventory, sku, "restock", { quantity: 2 })
      const second = yield* CommandHandler.execute(Inventory, sku, "restock", { quantity: 3 }, {
        metadata: { correlationId: "corr-1", causationId: "cause-1" }
      })
      expect(first.events.map((e) => [e.eventId, e.occurredAt.toISOString(), e.position])).toEqual([
        ["00000000-0000-7000-8000-000000000001", "2026-01-01T00:00:00.000Z", 1]
      ])
      expect(second.events[0]!.eventId).toBe("00000000-0000-7000-8000-000000000002")
      expect(second.events[0]!.metadata).toEqual({ correlationId: "corr-1", causationId: "cause-1" })
      expect(second.state.available).toBe(5)
    }).pipe(Effect.provide(Deterministic)))

  it.effect("the default id generator draws UUIDv7s", () =>
    Effect.gen(function*() {
      const result = yield* CommandHandler.execute(Inventory, Sku.make("pear"), "restock", { quantity: 1 })
      expect(result.events[0]!.eventId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    }).pipe(Effect.provide(CommandHandler.layer().pipe(Layer.provide(MemoryEventStore.layer)))))
})
