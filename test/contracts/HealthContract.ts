/**
 * Health against a running relay, on every store: `suite("memory", MemoryEventStore.layer)`.
 */
import { describe, expect, layer } from "@effect/vitest"
import { Effect, Layer, Metric, MetricLabel, Schedule } from "effect"
import { CommandHandler, Health, Relay, Subscription, Telemetry } from "effect-ddd"
import { randomUUID } from "node:crypto"
import { Inventory } from "../../examples/http-server/Domain/Inventory.js"
import { Sku } from "../../examples/http-server/Domain/Order.js"
import { type Stores } from "../support/stores.js"
import { eventually, holding, pausedFor } from "./RelayContract.js"

const fresh = (prefix: string) => `${prefix}-${randomUUID()}`

const expectEffect = (f: () => void) => Effect.try({ try: f, catch: (error) => error })

const gauge = (metric: Metric.Metric.Gauge<number>, subscription: string) =>
  Effect.map(
    Metric.value(Metric.taggedWithLabels(metric, [MetricLabel.make("subscription", subscription)])),
    (s) => s.value
  )

/** Run `use` with a relay and the health service over `subscriptions`. */
const withHealth = <S extends Subscription.Any, A, E, R>(
  subscriptions: ReadonlyArray<S>,
  thresholds: Health.Thresholds,
  use: Effect.Effect<A, E, R>
) =>
  Effect.scoped(Effect.flatMap(
    Layer.build(
      Health.layer({ subscriptions, thresholds, refreshInterval: "1 hour" }).pipe(
        Layer.provideMerge(Relay.layer({ subscriptions, pollInterval: "50 millis", leaseTtl: "600 millis" }))
      )
    ),
    (context) => Effect.provide(use, context)
  ))

export const suite = <E>(name: string, store: Layer.Layer<Stores, E>) =>
  layer(Layer.provideMerge(CommandHandler.layer(), store), { timeout: 120_000, excludeTestServices: true })(
    `Health: ${name}`,
    (it) => {
      describe("thresholds", () => {
        it.effect("a dead letter past the threshold makes the subscription unhealthy; a redrive heals it", () =>
          Effect.gen(function*() {
            const broken = Sku.make(fresh("broken"))
            const name = fresh("fragile")
            let fixed = false
            const subscription = Subscription.make({
              name,
              events: [Subscription.on(Inventory, "StockRestocked")],
              retry: Schedule.spaced("10 millis").pipe(Schedule.intersect(Schedule.recurs(2))),
              partitions: 2,
              handle: (_event, envelope) =>
                envelope.aggregateId === broken && !fixed ? Effect.fail("handler bug") : Effect.void
            })
            yield* CommandHandler.execute(Inventory, broken, "restock", { quantity: 1 })
            yield* withHealth(
              [subscription],
              { deadLetters: { degraded: 1, unhealthy: 1 } },
              Effect.gen(function*() {
                const report = yield* eventually(Effect.filterOrFail(Health.check, (r) => r.status !== "healthy"))
                expect(report.status).toBe("unhealthy")
                expect(report.subscriptions).toHaveLength(1)
                const mine = report.subscriptions[0]!
                expect([mine.subscription, mine.status, mine.deadLetters, mine.lag]).toEqual([name, "unhealthy", 1, 0])
                expect(mine.reasons).toEqual(["dead letters 1 reached the unhealthy threshold 1"])
                expect(Health.httpStatus(report)).toBe(503)
                expect(yield* gauge(Telemetry.deadLetters, name)).toBe(1)

                fixed = true
                const relay = yield* Relay.Relay
                const [letter] = yield* relay.deadLetters({ subscription: name })
                expect((yield* relay.redrive(letter!.id)).remaining).toEqual([])
                const healed = yield* Health.check
                expect(healed.status).toBe("healthy")
                expect(healed.subscriptions[0]).toMatchObject({
                  status: "healthy",
                  deadLetters: 0,
                  lag: 0,
                  reasons: []
                })
                expect(Health.httpStatus(healed)).toBe(200)
                expect(yield* gauge(Telemetry.deadLetters, name)).toBe(0)
              })
            )
          }))

        it.effect("lag rises while the relay is paused and returns to 0 after resume", () =>
          Effect.gen(function*() {
            const name = fresh("lagging")
            const subscription = Subscription.make({
              name,
              events: [Subscription.on(Inventory, "StockRestocked")],
              partitions: 3,
              handle: () => Effect.void
            })
            const skus = Array.from({ length: 6 }, () => Sku.make(fresh("sku")))
            yield* withHealth(
              [subscription],
              { lag: { degraded: 5, unhealthy: 100 } },
              Effect.gen(function*() {
                const relay = yield* Relay.Relay
                // whatever came before this subscription existed is delivered first
                yield* eventually(Effect.filterOrFail(Health.check, (r) => r.subscriptions[0]!.lag === 0))
                yield* holding(subscription)
                yield* relay.pause
                yield* pausedFor(name)
                const restocks = yield* Effect.forEach(
                  skus,
                  (sku) => CommandHandler.execute(Inventory, sku, "restock", { quantity: 1 })
                )
                const behind = yield* Health.check
                const mine = behind.subscriptions[0]!
                expect(mine.lag).toBe(6)
                // the age of the oldest undelivered event, as of the report
                expect(mine.oldestUndeliveredAgeMillis).toBe(
                  behind.checkedAt - restocks[0]!.events[0]!.occurredAt.getTime()
                )
                expect(mine.status).toBe("degraded")
                expect(mine.reasons).toEqual(["lag 6 events reached the degraded threshold 5 events"])
                expect(yield* gauge(Telemetry.lag, name)).toBe(6)
                expect(yield* gauge(Telemetry.oldestUndeliveredAge, name)).toBe(mine.oldestUndeliveredAgeMillis / 1000)

                yield* relay.resume
                const caughtUp = yield* eventually(
                  Effect.filterOrFail(Health.check, (r) => r.subscriptions[0]!.lag === 0)
                )
                expect(caughtUp.subscriptions[0]).toMatchObject({
                  status: "healthy",
                  lag: 0,
                  oldestUndeliveredAgeMillis: 0
                })
                yield* expectEffect(() => expect(caughtUp.status).toBe("healthy"))
                expect(yield* gauge(Telemetry.lag, name)).toBe(0)
                // the gauge counts the leases live at the check: all three, once renewed after resume
                yield* eventually(Effect.gen(function*() {
                  yield* Health.check
                  const held = yield* Metric.value(Metric.taggedWithLabels(Telemetry.leasesHeld, [
                    MetricLabel.make("subscription", name),
                    MetricLabel.make("owner", relay.owner)
                  ]))
                  yield* expectEffect(() => expect(held.value).toBe(3))
                }))
              })
            )
          }))
      })
    }
  )
