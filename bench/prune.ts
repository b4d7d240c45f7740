/**
 * Pruning benchmarks on SQLite (temp files, WAL), over a log pre-filled with `BENCH_PRUNE_EVENTS`
 * (100,000) delivered events of a state-stored aggregate, old enough to go:
 *
 * - `prune.sqlite.deletes.idle`: events/s removed by `Pruner.run` with no pause between batches (`share` 1)
 *   of 500 and nothing else running. Baseline: better-sqlite3 deleting the same rows in batches of
 *   500 (the same statement shape) on a copy of the file.
 * - `prune.sqlite.deletes.busy`: events/s removed with the default pacing (a pause after each batch
 *   of 19 times what the batch took, at least 50 ms: `share` 0.05) while 8 fibers run commands (until the backlog is gone, or `BENCH_PRUNE_BUSY_SECONDS`, 30).
 * - `prune.sqlite.commands.c8`: commands/s of those 8 fibers while pruning runs; baseline: the
 *   same commands for as long, pruning off, in the same run (the ratio is the cost of pruning;
 *   target >= 0.9x).
 *
 * Pre-filling is never timed.
 */
import { SqliteClient } from "@effect/sql-sqlite-node"
import Database from "better-sqlite3"
import { Clock, Deferred, Effect, Fiber, Layer, Metric, MetricLabel } from "effect"
import { CommandHandler, Pruner, Retention, Telemetry } from "effect-ddd"
import { SqlEventStore } from "effect-ddd/sql"
import { copyFileSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Inventory } from "../examples/http-server/Domain/Inventory.js"
import { Sku } from "../examples/http-server/Domain/Order.js"
import { type Figure, figure } from "./report.js"

const EVENTS = Number(process.env["BENCH_PRUNE_EVENTS"] ?? 100_000)
const BATCH = 500
const FIBERS = 8
/** The longest the busy phase runs (commands and pruning together). */
const BUSY_SECONDS = Number(process.env["BENCH_PRUNE_BUSY_SECONDS"] ?? 30)

const prunedEvents = Telemetry.prunedRows.pipe(Metric.taggedWithLabels([MetricLabel.make("table", "events")]))

const retention: Retention.Policy = {
  ...Retention.defaults,
  aggregates: [{ aggregateType: Inventory.name, events: "delivered", keepMillis: 0 }]
}

const layer = (file: string) =>
  CommandHandler.layer().pipe(
    Layer.provideMerge(SqlEventStore.layer({ retention })),
    Layer.provideMerge(SqliteClient.layer({ filename: file })),
    Layer.provide(Telemetry.disabled)
  )

/** The library's tables, then `EVENTS` old events (100 per aggregate) all delivered to one reader. */
const prefill = async (file: string) => {
  await Effect.runPromise(Effect.provide(Effect.void, layer(file)))
  const db = new Database(file)
  db.pragma("journal_mode = WAL")
  const insert = db.prepare(`INSERT INTO effect_ddd_events (event_id, aggregate_type, aggregate_id, stream_hash,
    version, event_type, schema_version, payload, metadata, occurred_at) VALUES (?, 'Inventory', ?, 0, ?, 'StockRestocked', 1, ?, '{}', 1000)`)
  db.transaction(() => {
    for (let i = 0; i < EVENTS; i++) {
      insert.run(
        `pre-${i}`,
        `pre-${Math.floor(i / 100)}`,
        (i % 100) + 1,
        `{"sku":"pre-${Math.floor(i / 100)}","quantity":1}`
      )
    }
    const last = db.prepare("SELECT max(position) AS p FROM effect_ddd_events").get() as { p: number }
    db.prepare(`INSERT INTO effect_ddd_subscriptions (name, kind, partitions, sources, registered_at)
      VALUES ('reader', 'projection', 1, '[{"aggregateType":"Inventory","eventTypes":[]}]', 0)`).run()
    db.prepare(`INSERT INTO effect_ddd_checkpoints (subscription, partition, commit_order, position, updated_at)
      VALUES ('reader', 0, 0, ?, 0)`).run(last.p)
  })()
  db.pragma("wal_checkpoint(TRUNCATE)")
  db.close()
}

/** The raw loop: batches of 500 deleted by position, as the library's statement does. */
const rawDeletes = (file: string): number => {
  const db = new Database(file)
  db.pragma("journal_mode = WAL")
  db.pragma("synchronous = NORMAL")
  const del = db.prepare(`DELETE FROM effect_ddd_events WHERE position IN (
    SELECT position FROM effect_ddd_events WHERE +aggregate_type = 'Inventory' AND position <= ? AND occurred_at < ?
    ORDER BY position LIMIT ${BATCH})`)
  const start = performance.now()
  let removed = 0
  while (true) {
    const n = db.transaction(() => del.run(Number.MAX_SAFE_INTEGER, Date.now()).changes)()
    removed += n
    if (n < BATCH) break
  }
  const rate = removed / ((performance.now() - start) / 1000)
  db.close()
  return rate
}

const nextTurn = Effect.async<void>((resume) => {
  const handle = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(handle))
})

/** Commands by `FIBERS` fibers (one SKU each) until `stop` completes; commands per second. */
const commandsUntil = (stop: Deferred.Deferred<void>, prefix: string) =>
  Effect.gen(function*() {
    let count = 0
    const start = yield* Clock.currentTimeMillis
    const loop = (sku: Sku) =>
      Effect.whileLoop({
        while: () => true,
        // each command arrives from the event loop, as a request would (a loop of commands that
        // never lets it turn keeps timers, the pruner's pauses among them, from firing)
        body: () => Effect.zipRight(nextTurn, CommandHandler.execute(Inventory, sku, "restock", { quantity: 1 })),
        step: () => count++
      })
    const fibers = yield* Effect.forEach(
      Array.from({ length: FIBERS }, (_, i) => Sku.make(`${prefix}-${i}`)),
      (sku) => Effect.fork(loop(sku))
    )
    yield* Deferred.await(stop)
    yield* Fiber.interruptAll(fibers)
    return count / (((yield* Clock.currentTimeMillis) - start) / 1000)
  })

/** Events/s removed by one pruning run. */
const timedRun = (options: Pruner.Options) =>
  Effect.gen(function*() {
    const start = performance.now()
    const report = yield* Pruner.run(options)
    return { removed: report.removed.events, rate: report.removed.events / ((performance.now() - start) / 1000) }
  })

export const runSqlite = async (): Promise<ReadonlyArray<Figure>> => {
  const dir = mkdtempSync(join(tmpdir(), "effect-ddd-bench-prune-"))
  try {
    const idle = join(dir, "idle.db")
    await prefill(idle)
    const busy = join(dir, "busy.db")
    const raw = join(dir, "raw.db")
    copyFileSync(idle, busy)
    copyFileSync(idle, raw)

    const rawRate = rawDeletes(raw)
    const idleRun = await Effect.runPromise(
      Effect.provide(timedRun({ batchSize: BATCH, pause: 0, share: 1 }), layer(idle))
    )

    const { commandsOff, commandsOn, deletes, removed, seconds } = await Effect.runPromise(Effect.provide(
      Effect.gen(function*() {
        // pruning on: commands while one run removes the backlog (for at most BUSY_SECONDS)
        const done = yield* Deferred.make<void>()
        const removedSoFar = Effect.map(Metric.value(prunedEvents), (state) => state.count)
        const before = yield* removedSoFar
        const on = yield* Effect.fork(commandsUntil(done, "on"))
        const start = yield* Clock.currentTimeMillis
        const run = yield* Effect.fork(Pruner.run({ batchSize: BATCH }))
        yield* Effect.race(Fiber.await(run), Effect.sleep(`${BUSY_SECONDS} seconds`))
        const seconds = ((yield* Clock.currentTimeMillis) - start) / 1000
        const removed = (yield* removedSoFar) - before
        yield* Deferred.succeed(done, undefined)
        const commandsOn = yield* Fiber.join(on)
        yield* Fiber.join(run)
        const deletes = removed / seconds
        // pruning off: the same commands for as long
        const off = yield* Deferred.make<void>()
        const offFiber = yield* Effect.fork(commandsUntil(off, "off"))
        yield* Effect.sleep(`${Math.round(seconds * 1000)} millis`)
        yield* Deferred.succeed(off, undefined)
        const commandsOff = yield* Fiber.join(offFiber)
        return { commandsOn, commandsOff, deletes, removed, seconds }
      }),
      layer(busy)
    ))
    console.error(
      `  prune.sqlite: idle ${Math.round(idleRun.rate)} events/s (${idleRun.removed} removed), raw ${
        Math.round(rawRate)
      }; busy ${Math.round(deletes)} events/s (${removed} in ${seconds.toFixed(1)} s) with commands ${
        Math.round(commandsOn)
      }/s against ${Math.round(commandsOff)}/s off`
    )
    return [
      figure("prune.sqlite.deletes.idle", idleRun.rate, "events/s", rawRate),
      figure("prune.sqlite.deletes.busy", deletes, "events/s", null),
      figure("prune.sqlite.commands.c8", commandsOn, "commands/s", commandsOff, ">= 0.9x pruning off")
    ]
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
