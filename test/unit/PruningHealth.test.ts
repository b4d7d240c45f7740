/**
 * Health with `Pruning` in context: a subscription that holds back the pruning of events it has
 * not delivered for longer than `retentionHeldBack` is degraded, with the reason.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Layer, TestClock } from "effect"
import {
  Checkpoints,
  CommandHandler,
  Health,
  MemoryEventStore,
  Retention,
  Subscription,
  SubscriptionRegistry
} from "effect-ddd"
import { Inventory } from "../../examples/http-server/Domain/Inventory.js"
import { Sku } from "../../examples/http-server/Domain/Order.js"

const reader = (name: string) =>
  Subscription.projection({ name, events: [Subscription.on(Inventory, "StockRestocked")], handle: () => Effect.void })

const caughtUp = reader("caught-up")
const stuck = reader("stuck")

const stores = MemoryEventStore.layerWith({
  retention: Retention.policy({ aggregates: [Inventory], events: "1 hour" })
})

describe("Health and retention", () => {
  it.effect("a subscription holding pruning back for longer than the threshold is degraded; one caught up is not", () =>
    Effect.gen(function*() {
      const registry = yield* SubscriptionRegistry.SubscriptionRegistry
      for (const s of [caughtUp, stuck]) {
        yield* registry.register({
          name: s.name,
          kind: "projection",
          partitions: 1,
          sources: [{ aggregateType: Inventory.name, eventTypes: [] }],
          registeredAt: 0
        })
      }
      const { events } = yield* CommandHandler.execute(Inventory, Sku.make("s1"), "restock", { quantity: 1 })
      yield* (yield* Checkpoints.Checkpoints).reset("caught-up", 0, { commitOrder: 0, position: events[0]!.position })
      const health = yield* Health.make({
        subscriptions: [caughtUp, stuck],
        thresholds: {
          oldestUndeliveredAge: { degraded: "365 days", unhealthy: "365 days" },
          retentionHeldBack: { degraded: "1 day" }
        }
      })
      // old enough to go, held back for less than a day: healthy
      yield* TestClock.adjust(Duration.sum(Duration.hours(1), Duration.hours(23)))
      const early = yield* health.check
      expect(
        early.subscriptions.map((s) => [s.subscription, s.status, s.retentionHeldBackMillis]),
        JSON.stringify(early)
      ).toEqual([
        ["caught-up", "healthy", 0],
        ["stuck", "healthy", Duration.toMillis(Duration.hours(23))]
      ])
      yield* TestClock.adjust(Duration.hours(1))
      const late = yield* health.check
      const byName = new Map(late.subscriptions.map((s) => [s.subscription, s]))
      expect(byName.get("caught-up")!.status).toBe("healthy")
      expect(byName.get("stuck")!.status).toBe("degraded")
      expect(byName.get("stuck")!.reasons).toEqual([
        expect.stringMatching(/^pruning held back for 1d .*degraded threshold 1d/)
      ])
      // once it catches up, nothing is held back
      yield* (yield* Checkpoints.Checkpoints).reset("stuck", 0, { commitOrder: 0, position: events[0]!.position })
      expect((yield* health.check).status).toBe("healthy")
    }).pipe(Effect.provide(CommandHandler.layer().pipe(Layer.provideMerge(stores)))))
})
