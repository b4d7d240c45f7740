/**
 * The pruning soak: restocks of many SKUs (a state-stored aggregate) in waves, while a relay
 * delivers them to a ledger projection and the background pruner removes what was delivered. What
 * it checks: every event reached the ledger exactly once (per SKU, versions 1..n once each), the
 * events table stayed bounded (after each wave it falls back under one wave), and commands sent
 * with an idempotency key still replay their first result at the end. `test/integration/
 * SqlitePruningSoak.test.ts` runs it small; `npm run bench -- soak` runs 1,000,000 events on
 * SQLite and PostgreSQL and prints the table's size over time.
 */
import { SqlClient } from "@effect/sql"
import { Clock, Effect, Layer, Schedule } from "effect"
import { CommandHandler, EventStore, Pruner, Relay, Retention, Subscription } from "effect-ddd"
import { SqlEventStore } from "effect-ddd/sql"
import { Inventory } from "../../examples/http-server/Domain/Inventory.js"
import { Sku } from "../../examples/http-server/Domain/Order.js"

export interface Options {
  readonly skus: number
  /** Restocks of each SKU in one wave. */
  readonly perWave: number
  readonly waves: number
  /** Called after each wave, once the ledger caught up and the pruner brought the table back. */
  readonly onWave?: ((sample: Sample) => Effect.Effect<void>) | undefined
}

export interface Sample {
  readonly wave: number
  /** Events written so far. */
  readonly events: number
  /** Rows in the events table after the wave (before the pruner brought it back), and after. */
  readonly keptPeak: number
  readonly kept: number
  /** What the events table takes on disk (SQLite: the whole file). */
  readonly bytes: number
  readonly seconds: number
}

export interface Outcome {
  readonly events: number
  readonly samples: ReadonlyArray<Sample>
  /** Ledger rows, distinct (SKU, version) pairs among them, SKUs whose versions are exactly 1..n. */
  readonly ledger: { readonly rows: number; readonly distinct: number; readonly completeSkus: number }
  /** Commands sent with an idempotency key, and how many of them replayed when sent again. */
  readonly keyed: number
  readonly replayed: number
}

/** Delivered events of `Inventory` may go at once (the policy constructor keeps them an hour at least). */
export const retention: Retention.Policy = {
  ...Retention.defaults,
  aggregates: [{ aggregateType: Inventory.name, events: "delivered", keepMillis: 0 }]
}

const ledger = Subscription.projection({
  name: "soak-ledger",
  events: [Subscription.on(Inventory, "StockRestocked")],
  partitions: 4,
  handle: (_, envelope) =>
    Effect.flatMap(
      SqlClient.SqlClient,
      (sql) => sql`INSERT INTO soak_ledger (sku, version) VALUES (${envelope.aggregateId}, ${envelope.version})`
    )
})

const Ledger = Layer.effectDiscard(Effect.flatMap(
  SqlClient.SqlClient,
  (sql) => sql`CREATE TABLE IF NOT EXISTS soak_ledger (sku TEXT NOT NULL, version INTEGER NOT NULL)`
))

/** Commands, the relay delivering to the ledger and the background pruner, over `client`. */
export const layer = <E>(client: Layer.Layer<SqlClient.SqlClient, E>) =>
  Layer.mergeAll(
    Relay.layer({ subscriptions: [ledger], owner: "soak", pollInterval: "100 millis" }),
    Pruner.layer({ schedule: Schedule.spaced("100 millis"), batchSize: 500, pause: "5 millis" })
  ).pipe(
    Layer.provideMerge(CommandHandler.layer()),
    Layer.provideMerge(SqlEventStore.layer({ retention })),
    Layer.provideMerge(Ledger),
    Layer.provideMerge(client)
  )

const count = (table: string) =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) => Effect.map(sql<{ n: number }>`SELECT count(*) AS n FROM ${sql(table)}`, (rows) => Number(rows[0]!.n))
  )

/** Until `check` holds of what `measure` returns (the relay and the pruner at work). */
const until = <A, E, R>(measure: Effect.Effect<A, E, R>, check: (a: A) => boolean, what: string) =>
  measure.pipe(
    Effect.filterOrFail(check, (a) => `${what}: ${String(a)}`),
    Effect.retry(Schedule.spaced("50 millis").pipe(Schedule.upTo("5 minutes")))
  )

/** Run the soak; `bytes` measures the events table's size on disk. */
export const run = <E, R>(options: Options, bytes: Effect.Effect<number, E, R>) =>
  Effect.gen(function*() {
    const { perWave, skus, waves } = options
    const store = yield* EventStore.EventStore
    const eventsKept = Effect.map(store.backlog(EventStore.logStart), (backlog) => backlog.count)
    const start = yield* Clock.currentTimeMillis
    const samples: Array<Sample> = []
    const keyed: Array<{ readonly sku: Sku; readonly key: string; readonly version: number }> = []
    let events = 0
    for (let wave = 0; wave < waves; wave++) {
      yield* Effect.forEach(
        Array.from({ length: skus }, (_, i) => Sku.make(`soak-${i}`)),
        (sku, i) =>
          Effect.forEach(Array.from({ length: perWave }, (_, n) => n), (n) => {
            // one command of every 100th SKU per wave carries an idempotency key
            const key = i % 100 === 0 && n === 0 ? `soak-${wave}-${sku}` : undefined
            return Effect.map(
              CommandHandler.execute(Inventory, sku, "restock", { quantity: 1 }, { idempotencyKey: key }),
              (result) => {
                events += result.events.length
                if (key !== undefined) keyed.push({ sku, key, version: result.version })
              }
            )
          }, { discard: true }),
        { concurrency: 8, discard: true }
      )
      const keptPeak = yield* eventsKept
      yield* until(count("soak_ledger"), (n) => n >= events, "ledger behind")
      const kept = yield* until(eventsKept, (n) => n < skus * perWave, "events kept")
      const sample: Sample = {
        wave: wave + 1,
        events,
        keptPeak,
        kept,
        bytes: yield* bytes,
        seconds: ((yield* Clock.currentTimeMillis) - start) / 1000
      }
      samples.push(sample)
      if (options.onWave !== undefined) yield* options.onWave(sample)
    }
    const sql = yield* SqlClient.SqlClient
    const [totals] = yield* sql<{ rows: number; pairs: number }>`
      SELECT count(*) AS rows, count(DISTINCT sku || ':' || version) AS pairs FROM soak_ledger`
    const [complete] = yield* sql<{ n: number }>`
      SELECT count(*) AS n FROM (
        SELECT sku FROM soak_ledger GROUP BY sku
        HAVING min(version) = 1 AND max(version) = ${perWave * waves} AND count(*) = ${perWave * waves}
      ) complete`
    let replayed = 0
    for (const { key, sku, version } of keyed) {
      const again = yield* CommandHandler.execute(Inventory, sku, "restock", { quantity: 1 }, { idempotencyKey: key })
      if (again.replayed && again.version === version) replayed++
    }
    return {
      events,
      samples,
      ledger: { rows: Number(totals!.rows), distinct: Number(totals!.pairs), completeSkus: Number(complete!.n) },
      keyed: keyed.length,
      replayed
    } satisfies Outcome
  })
