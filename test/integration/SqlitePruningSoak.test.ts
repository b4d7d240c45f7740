/**
 * A small soak on a real SQLite file: 20,000 events through a state-stored aggregate while a relay
 * delivers them to a projection and the background pruner removes what it delivered. The
 * projection's ledger (written in each delivery's transaction) must hold every event exactly
 * once, and the events table must end empty: every event delivered, then pruned.
 */
import { SqlClient } from "@effect/sql"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Metric, MetricLabel, Schedule } from "effect"
import { CommandHandler, EventStore, Pruner, Pruning, Relay, Retention, Subscription, Telemetry } from "effect-ddd"
import { SqlEventStore } from "effect-ddd/sql"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Inventory } from "../../examples/http-server/Domain/Inventory.js"
import { Sku } from "../../examples/http-server/Domain/Order.js"

const SKUS = 200
const PER_WAVE = 5
const WAVES = 20 // 200 SKUs x 5 restocks x 20 waves: 20,000 events
const RESTOCKS = PER_WAVE * WAVES

const ledger = Subscription.projection({
  name: "soak-ledger",
  events: [Subscription.on(Inventory, "StockRestocked")],
  partitions: 4,
  handle: (_, envelope) =>
    Effect.flatMap(SqlClient.SqlClient, (sql) => sql`INSERT INTO soak_ledger (event_id) VALUES (${envelope.eventId})`)
})

/** Raw, to keep events only until delivered (the policy constructor keeps them at least an hour). */
const retention: Retention.Policy = {
  ...Retention.defaults,
  aggregates: [{ aggregateType: Inventory.name, events: "delivered", keepMillis: 0 }]
}

const Ledger = Layer.effectDiscard(
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) => sql`CREATE TABLE IF NOT EXISTS soak_ledger (event_id TEXT NOT NULL)`
  )
)

const count = (table: string) =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) => Effect.map(sql<{ n: number }>`SELECT count(*) AS n FROM ${sql(table)}`, (rows) => Number(rows[0]!.n))
  )

describe("pruning soak (SQLite)", () => {
  it.live(
    "20,000 events: the subscription gets each once while delivered events are pruned; the table ends empty",
    () =>
      Effect.gen(function*() {
        const issued = new Set<string>()
        let largest = 0
        const store = yield* EventStore.EventStore
        const eventsKept = Effect.map(store.backlog(EventStore.logStart), (backlog) => backlog.count)
        /** Until `check` holds of what `measure` returns (the relay and the pruner at work). */
        const until = <A, E, R>(measure: Effect.Effect<A, E, R>, check: (a: A) => boolean, what: string) =>
          measure.pipe(
            Effect.filterOrFail(check, (a) => `${what}: ${String(a)}`),
            Effect.retry(Schedule.spaced("50 millis").pipe(Schedule.upTo("2 minutes")))
          )
        // waves of 1,000 events (each SKU's restocks in order, SKUs in parallel); after each, the
        // subscription catches up and the pruner brings the table back under one wave
        for (let wave = 0; wave < WAVES; wave++) {
          yield* Effect.forEach(
            Array.from({ length: SKUS }, (_, i) => Sku.make(`soak-${i}`)),
            (sku) =>
              Effect.repeatN(
                Effect.flatMap(CommandHandler.execute(Inventory, sku, "restock", { quantity: 1 }), (result) =>
                  Effect.sync(() => {
                    for (const event of result.events) issued.add(event.eventId)
                  })),
                PER_WAVE - 1
              ),
            { concurrency: 8, discard: true }
          )
          largest = Math.max(largest, yield* eventsKept)
          yield* until(count("soak_ledger"), (n) =>
            n >= issued.size, "ledger behind")
          yield* until(eventsKept, (n) => n < SKUS * PER_WAVE, "events kept")
        }
        expect(issued.size).toBe(SKUS * PER_WAVE * WAVES)
        const sql = yield* SqlClient.SqlClient
        const rows = yield* sql<{ event_id: string; n: number }>`
        SELECT event_id, count(*) AS n FROM soak_ledger GROUP BY event_id`
        expect(rows.length).toBe(SKUS * RESTOCKS)
        expect(rows.every((r) => Number(r.n) === 1 && issued.has(r.event_id))).toBe(true)
        // what the background pruner left (events of the last millisecond, the last checkpoints) goes now
        const prunedBefore = (yield* Metric.value(
          Telemetry.prunedRows.pipe(Metric.taggedWithLabels([MetricLabel.make("table", "events")]))
        )).count
        yield* Effect.sleep("5 millis")
        yield* Pruner.run()
        expect(yield* count("effect_ddd_events")).toBe(0)
        const marks = yield* (yield* Pruning.Pruning).prunedThrough
        expect(marks.get(Inventory.name)?.position).toBe(SKUS * RESTOCKS)
        // the state rows remain: the aggregates still load and take commands
        const next = yield* CommandHandler.execute(Inventory, Sku.make("soak-0"), "restock", { quantity: 1 })
        expect(next.version).toBe(RESTOCKS + 1)
        yield* Effect.log(
          `soak: ${
            SKUS * RESTOCKS
          } events; largest events table seen ${largest}; pruned by the background layer ${prunedBefore}`
        )
      }).pipe(
        Effect.provide(
          Layer.mergeAll(
            Relay.layer({ subscriptions: [ledger], owner: "soak", pollInterval: "100 millis" }),
            Pruner.layer({ schedule: Schedule.spaced("100 millis"), batchSize: 500, pause: "5 millis" })
          ).pipe(
            Layer.provideMerge(CommandHandler.layer()),
            Layer.provideMerge(SqlEventStore.layer({ retention })),
            Layer.provideMerge(Ledger),
            Layer.provideMerge(
              SqliteClient.layer({ filename: join(mkdtempSync(join(tmpdir(), "effect-ddd-soak-")), "soak.db") })
            )
          )
        )
      ),
    { timeout: 600_000 }
  )
})
