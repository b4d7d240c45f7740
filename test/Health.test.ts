import { SqliteClient } from "@effect/sql-sqlite-node"
import { describe, expect, it, layer } from "@effect/vitest"
import { Effect, Layer, Metric, MetricLabel, Schedule } from "effect"
import { CommandHandler, Health, MemoryEventStore, Relay, Subscription, Telemetry } from "effect-ddd"
import { SqlEventStore } from "effect-ddd/sql"
import { randomUUID } from "node:crypto"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Inventory } from "../examples/http-server/Domain/Inventory.js"
import { Sku } from "../examples/http-server/Domain/Order.js"
import { eventually } from "./contracts/RelayContract.js"
import { pgClient } from "./support/pg.js"
import { type Stores } from "./support/stores.js"

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
        Layer.provideMerge(Relay.layer({ subscriptions, pollInterval: "50 millis", leaseTtl: "2 seconds" }))
      )
    ),
    (context) => Effect.provide(use, context)
  ))

const suite = <E>(name: string, store: Layer.Layer<Stores, E>) =>
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
                expect(yield* relay.redrive(letter!.id)).toEqual([])
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
                yield* relay.pause
                yield* Effect.sleep("100 millis")
                for (const sku of skus) yield* CommandHandler.execute(Inventory, sku, "restock", { quantity: 1 })
                yield* Effect.sleep("20 millis")
                const behind = yield* Health.check
                const mine = behind.subscriptions[0]!
                expect(mine.lag).toBe(6)
                expect(mine.oldestUndeliveredAgeMillis).toBeGreaterThanOrEqual(20)
                expect(mine.status).toBe("degraded")
                expect(mine.reasons).toEqual(["lag 6 events reached the degraded threshold 5 events"])
                expect(yield* gauge(Telemetry.lag, name)).toBe(6)
                expect(yield* gauge(Telemetry.oldestUndeliveredAge, name)).toBeGreaterThan(0)

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
                const held = yield* Metric.value(Metric.taggedWithLabels(Telemetry.leasesHeld, [
                  MetricLabel.make("subscription", name),
                  MetricLabel.make("owner", relay.owner)
                ]))
                expect(held.value).toBe(3)
              })
            )
          }))
      })
    }
  )

describe("Health.evaluate", () => {
  it("judges each measure against its thresholds; the worst wins", () => {
    const thresholds: Health.Thresholds = {
      lag: { degraded: 10, unhealthy: 100 },
      oldestUndeliveredAge: { degraded: "30 seconds", unhealthy: "2 minutes" },
      deadLetters: { unhealthy: 1 }
    }
    expect(Health.evaluate("s", { lag: 9, oldestUndeliveredAgeMillis: 29_999, deadLetters: 0 }, thresholds))
      .toEqual({
        subscription: "s",
        status: "healthy",
        lag: 9,
        oldestUndeliveredAgeMillis: 29_999,
        deadLetters: 0,
        reasons: []
      })
    expect(Health.evaluate("s", { lag: 10, oldestUndeliveredAgeMillis: 30_000, deadLetters: 0 }, thresholds))
      .toMatchObject({
        status: "degraded",
        reasons: [
          "lag 10 events reached the degraded threshold 10 events",
          "oldest undelivered event age 30s reached the degraded threshold 30s"
        ]
      })
    expect(Health.evaluate("s", { lag: 100, oldestUndeliveredAgeMillis: 0, deadLetters: 0 }, thresholds).status).toBe(
      "unhealthy"
    )
    expect(Health.evaluate("s", { lag: 0, oldestUndeliveredAgeMillis: 120_000, deadLetters: 0 }, thresholds).status)
      .toBe("unhealthy")
    expect(Health.evaluate("s", { lag: 0, oldestUndeliveredAgeMillis: 0, deadLetters: 1 }, thresholds).status).toBe(
      "unhealthy"
    )
    // the defaults: dead letters degrade at 1, lag at 1,000
    expect(Health.evaluate("s", { lag: 999, oldestUndeliveredAgeMillis: 0, deadLetters: 1 }).status).toBe("degraded")
  })
})

suite("memory", MemoryEventStore.layer)
suite(
  "SQLite",
  SqlEventStore.layer().pipe(
    Layer.provide(
      SqliteClient.layer({ filename: join(mkdtempSync(join(tmpdir(), "effect-ddd-health-")), "health.db") })
    )
  )
)
suite("PostgreSQL", SqlEventStore.layer().pipe(Layer.provide(pgClient("health"))))
