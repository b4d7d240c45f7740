/**
 * Relay benchmarks, each beside a raw-driver baseline measured in the same run.
 *
 * - `relay.sqlite.noop`: events/s delivered to a no-op async subscription (checkpoints on) over a
 *   pre-filled SQLite log (temp file, WAL, synchronous NORMAL). Baseline: better-sqlite3 reading
 *   the same table in pages of 500 by position, parsing payload and metadata, and updating a
 *   checkpoint row per page in a transaction.
 * - `relay.pg.noop.w1` / `.w4`: the same on PostgreSQL with 1 and 4 partitions. Baseline: `pg`
 *   reading pages of 500 in (commit_order, position) order, a checkpoint update per page.
 * - `latency.inproc.p50` / `.p99`: SQLite, one process, relay idle: from `execute` returning to
 *   the handler being called. Baseline: a raw commit, a microtask wake-up and the page read.
 * - `latency.pg.xproc.p50` / `.p99`: PostgreSQL, writer and relay in two processes
 *   (`bench/support/relayProcess.ts`), woken by `PgWakeup` (LISTEN/NOTIFY); `BENCH_XPROC_WAKEUP=0`
 *   measures polling alone (every 10 ms) instead. Baseline: a raw writer and a raw reader on two
 *   connections doing the same wake-up (a `pg_notify` after the commit, or the same polling).
 * - `relay.sqlite.drain1m.rss` / `.seconds`: drain a 1,000,000-event backlog in a fresh process
 *   (`bench/support/drainProcess.ts`), RSS sampled during the drain. `BENCH_DRAIN_EVENTS` scales
 *   it down. Baseline: the raw better-sqlite3 page loop in a fresh process.
 *
 * Pre-filling is never timed. Knobs: `BENCH_RELAY_EVENTS` (200,000) and `BENCH_PG_RELAY_EVENTS`
 * size the throughput backlogs, `BENCH_LATENCY_SAMPLES` (1,000), `BENCH_DRAIN_EVENTS` (1,000,000),
 * `BENCH_DRAIN_TIMEOUT` (150 s: a drain still running then is reported as timed out, its seconds
 * extrapolated linearly). `npm run bench -- relay.sqlite.noop` runs the SQLite throughput group
 * alone (`relay.sqlite` also matches the drain1m group).
 */
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { SqliteClient } from "@effect/sql-sqlite-node"
import Database from "better-sqlite3"
import { Deferred, Effect, Exit, Layer, Redacted } from "effect"
import { CommandHandler, type DomainEvent, EventStore, Relay, Subscription, Telemetry } from "effect-ddd"
import { Migrations, SqlEventStore } from "effect-ddd/sql"
import { PgWakeup } from "effect-ddd/sql/pg"
import { fork } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import pg from "pg"
import { v7 } from "uuid"
import { Inventory } from "../examples/http-server/Domain/Inventory.js"
import { Sku } from "../examples/http-server/Domain/Order.js"
import { delivery } from "../test/support/stores.js"
import { type Figure, figure } from "./report.js"

const here = dirname(fileURLToPath(import.meta.url))
const envNumber = (name: string, fallback: number) => {
  const value = process.env[name]
  return value === undefined || value === "" ? fallback : Number(value)
}

/** Events in the throughput backlogs (SQLite and PostgreSQL). */
const RELAY_EVENTS = envNumber("BENCH_RELAY_EVENTS", 200_000)
const PG_RELAY_EVENTS = envNumber("BENCH_PG_RELAY_EVENTS", RELAY_EVENTS)
/** The drain1m backlog. */
const DRAIN_EVENTS = envNumber("BENCH_DRAIN_EVENTS", 1_000_000)
const LATENCY_SAMPLES = envNumber("BENCH_LATENCY_SAMPLES", 1000)
/** 0: the cross-process relay polls every 10 ms instead of being woken by PgWakeup. */
const XPROC_WAKEUP = envNumber("BENCH_XPROC_WAKEUP", 1) !== 0
const PAGE = 500

const log = (message: string) => console.error(`  ${message}`)

// --- the backlog ---------------------------------------------------------------------------------

/** The event with log index `i` of a backlog spread over `aggregates` SKUs, round robin. */
const backlogEvent = (i: number, aggregates: number) => {
  const sku = `sku-${i % aggregates}`
  return { sku, version: Math.floor(i / aggregates) + 1 }
}

const restocked = (sku: string, version: number, occurredAt: number): DomainEvent.Unsaved => ({
  eventId: v7(),
  aggregateType: "Inventory",
  aggregateId: sku,
  version,
  eventType: "StockRestocked",
  schemaVersion: 1,
  payload: { _tag: "StockRestocked", sku, quantity: 1 },
  occurredAt,
  metadata: { correlationId: `bench-${sku}-${version}` }
})

/**
 * Append `total` events through the EventStore port: rounds of 5 events per aggregate, 500
 * aggregates per transaction, so the log interleaves many aggregates.
 */
const fillThroughStore = (total: number) =>
  Effect.gen(function*() {
    const store = yield* EventStore.EventStore
    const perAppend = 5
    const aggregates = Math.max(1, Math.min(10_000, Math.floor(total / 20)))
    const now = Date.now()
    let written = 0
    for (let round = 0; written < total; round++) {
      for (let first = 0; first < aggregates && written < total; first += 500) {
        const requests: Array<EventStore.AppendRequest> = []
        for (let a = first; a < Math.min(first + 500, aggregates) && written < total; a++) {
          const count = Math.min(perAppend, total - written)
          const sku = `sku-${a}`
          const expectedVersion = round * perAppend
          requests.push({
            aggregateType: "Inventory",
            aggregateId: sku,
            expectedVersion,
            events: Array.from({ length: count }, (_, k) => restocked(sku, expectedVersion + k + 1, now))
          })
          written += count
        }
        yield* store.withTransaction(Effect.forEach(requests, (r) => store.append(r), { discard: true }))
      }
    }
  })

/** Raw better-sqlite3 fill of `effect_ddd_events` (migrations already run), one transaction. */
export const fillRawSqlite = (file: string, total: number) => {
  const db = new Database(file)
  db.pragma("journal_mode = WAL")
  db.pragma("synchronous = NORMAL")
  const insert = db.prepare(
    `INSERT INTO effect_ddd_events (event_id, aggregate_type, aggregate_id, stream_hash, version,
    event_type, schema_version, payload, metadata, occurred_at) VALUES (?, 'Inventory', ?, ?, ?, 'StockRestocked', 1, ?, ?, ?)`
  )
  const aggregates = Math.max(1, Math.min(10_000, Math.floor(total / 20)))
  const hashes = Array.from({ length: aggregates }, (_, a) => EventStore.streamHash(`sku-${a}`))
  const now = Date.now()
  db.transaction(() => {
    for (let i = 0; i < total; i++) {
      const { sku, version } = backlogEvent(i, aggregates)
      insert.run(
        v7(),
        sku,
        hashes[i % aggregates]!,
        version,
        `{"_tag":"StockRestocked","sku":"${sku}","quantity":1}`,
        `{"correlationId":"bench-${sku}-${version}"}`,
        now
      )
    }
  })()
  db.pragma("wal_checkpoint(TRUNCATE)")
  db.close()
}

// --- the library's relay -------------------------------------------------------------------------

/**
 * A no-op async subscription counting its calls; `done` resolves at the `target`-th call.
 * `onCall` (optional) sees the running count, e.g. to sample memory.
 */
const counting = (name: string, partitions: number, target: number, onCall?: (calls: number) => void) =>
  Effect.map(Deferred.make<void>(), (done) => {
    const state = { calls: 0 }
    const subscription = Subscription.make({
      name,
      events: [Subscription.on(Inventory)],
      partitions,
      handle: () => {
        const calls = ++state.calls
        if (onCall !== undefined) onCall(calls)
        return calls === target ? Deferred.succeed(done, undefined) : Effect.void
      }
    })
    return { subscription, done, state }
  })

/** The cursor after the last event of each partition, in log order (what the checkpoints must reach). */
const finalCursors = (partitions: number) =>
  Effect.gen(function*() {
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()
    const rows = yield* sql.onDialectOrElse({
      pg: () =>
        sql.unsafe<{ p: number; commit_order: string; position: string }>(
          `SELECT DISTINCT ON (stream_hash % ${partitions}) stream_hash % ${partitions} AS p, commit_order, position
           FROM effect_ddd_events ORDER BY stream_hash % ${partitions}, commit_order DESC, position DESC`
        ),
      orElse: () =>
        sql.unsafe<{ p: number; commit_order: number; position: number }>(
          `SELECT stream_hash % ${partitions} AS p, 0 AS commit_order, MAX(position) AS position
           FROM effect_ddd_events GROUP BY stream_hash % ${partitions}`
        )
    })
    return new Map(
      rows.map((r) => [Number(r.p), { commitOrder: Number(r.commit_order), position: Number(r.position) }])
    )
  })

/**
 * Start a relay for a counting no-op subscription and time it until every partition's checkpoint
 * covers the last event of the log; returns events/s. With `timeout`, gives up after that many
 * seconds and returns the rate so far (`complete: false`).
 */
export const timeRelay = (
  name: string,
  partitions: number,
  total: number,
  options: { readonly onCall?: (calls: number) => void; readonly timeout?: number; readonly batchSize?: number } = {}
) =>
  Effect.gen(function*() {
    const { checkpoints } = yield* delivery
    const targets = yield* finalCursors(partitions)
    const { done, state, subscription } = yield* counting(name, partitions, total, options.onCall)
    let complete = true
    const seconds = yield* Effect.scoped(Effect.gen(function*() {
      const start = performance.now()
      yield* Layer.build(Relay.layer({
        subscriptions: [subscription],
        pollInterval: "1 second",
        leaseTtl: "30 seconds",
        ...(options.batchSize === undefined ? {} : { batchSize: options.batchSize })
      }))
      if (options.timeout === undefined) yield* Deferred.await(done)
      else {
        // the deadline is checked against the clock; the sleep only hands the thread to the relay
        const deadline = start + options.timeout * 1000
        while (!(yield* Deferred.isDone(done))) {
          if (performance.now() > deadline) {
            complete = false
            return (performance.now() - start) / 1000
          }
          yield* Effect.sleep("5 millis")
        }
      }
      // the last handler call happens inside the batch's transaction: wait for its checkpoint too
      while (true) {
        const saved = yield* Effect.forEach(Array.from(targets.keys()), (p) => checkpoints.get(name, p))
        // at or past it: an idle worker saves its checkpoint past events of other partitions
        const covered = Array.from(targets.values()).every((target, i) => !EventStore.isAfter(target, saved[i]!))
        if (covered) break
        yield* Effect.sleep("1 millis")
      }
      return (performance.now() - start) / 1000
    }))
    if (!complete) return { rate: state.calls / seconds, seconds, delivered: state.calls, complete }
    if (state.calls !== total) throw new Error(`${name}: ${state.calls} handler calls for ${total} events`)
    return { rate: total / seconds, seconds, delivered: total, complete }
  })

// --- raw baselines -------------------------------------------------------------------------------

/** better-sqlite3: pages of 500 by position, JSON.parse payload + metadata, a checkpoint per page. */
export const rawSqliteDrain = (file: string, total: number, onPage?: () => void) => {
  const db = new Database(file)
  db.pragma("journal_mode = WAL")
  db.pragma("synchronous = NORMAL")
  db.exec(`CREATE TABLE IF NOT EXISTS raw_checkpoints (name TEXT PRIMARY KEY, position INTEGER NOT NULL)`)
  const name = `raw-${v7()}`
  const select = db.prepare(
    `SELECT position, event_id, aggregate_type, aggregate_id, version, event_type, schema_version,
    payload, metadata, occurred_at FROM effect_ddd_events WHERE position > ? ORDER BY position LIMIT ${PAGE}`
  )
  const save = db.prepare(`INSERT INTO raw_checkpoints (name, position) VALUES (?, ?)
    ON CONFLICT (name) DO UPDATE SET position = excluded.position`)
  const begin = db.prepare("BEGIN")
  const commit = db.prepare("COMMIT")
  let position = 0
  let count = 0
  let sink = 0
  const start = performance.now()
  while (true) {
    begin.run()
    const rows = select.all(position) as Array<{ position: number; payload: string; metadata: string }>
    for (const row of rows) {
      const payload = JSON.parse(row.payload)
      const metadata = JSON.parse(row.metadata)
      sink += payload.quantity + (metadata === null ? 0 : 1)
    }
    if (rows.length > 0) {
      position = rows[rows.length - 1]!.position
      save.run(name, position)
    }
    commit.run()
    count += rows.length
    if (onPage !== undefined) onPage()
    if (rows.length < PAGE) break
  }
  const seconds = (performance.now() - start) / 1000
  db.close()
  if (count !== total || sink === 0) throw new Error(`raw sqlite drain read ${count} of ${total}`)
  return total / seconds
}

/** pg: pages of 500 in (commit_order, position) order, a checkpoint update per page. */
const rawPgDrain = async (url: string, total: number) => {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    const name = `raw-${v7()}`
    await client.query(`CREATE TABLE IF NOT EXISTS raw_checkpoints (name TEXT PRIMARY KEY, commit_order BIGINT NOT NULL,
      position BIGINT NOT NULL)`)
    await client.query("INSERT INTO raw_checkpoints VALUES ($1, 0, 0)", [name])
    let cursor: [string, string] = ["0", "0"]
    let count = 0
    const start = performance.now()
    while (true) {
      await client.query("BEGIN")
      const { rows } = await client.query<{ commit_order: string; position: string; payload: unknown }>({
        name: "raw-page",
        text:
          `SELECT commit_order, position, event_id, aggregate_type, aggregate_id, version, event_type, schema_version,
          payload, metadata, occurred_at FROM effect_ddd_events WHERE (commit_order, position) > ($1, $2)
          ORDER BY commit_order, position LIMIT ${PAGE}`,
        values: cursor
      })
      if (rows.length > 0) {
        const last = rows[rows.length - 1]!
        cursor = [last.commit_order, last.position]
        await client.query({
          name: "raw-save",
          text: "UPDATE raw_checkpoints SET commit_order = $2, position = $3 WHERE name = $1",
          values: [name, ...cursor]
        })
      }
      await client.query("COMMIT")
      count += rows.length
      if (rows.length < PAGE) break
    }
    const seconds = (performance.now() - start) / 1000
    if (count !== total) throw new Error(`raw pg drain read ${count} of ${total}`)
    return total / seconds
  } finally {
    await client.end()
  }
}

// --- groups --------------------------------------------------------------------------------------

// the relay figures are measured with telemetry off, like the command figures
export const sqliteStore = (file: string) =>
  SqlEventStore.layer().pipe(
    Layer.provideMerge(SqliteClient.layer({ filename: file })),
    Layer.provideMerge(Telemetry.disabled)
  )

export const synchronousNormal = Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe("PRAGMA synchronous = NORMAL"))

/** `relay.sqlite.noop` */
export const runSqlite = async (): Promise<ReadonlyArray<Figure>> => {
  const dir = mkdtempSync(join(tmpdir(), "effect-ddd-bench-relay-"))
  try {
    const file = join(dir, "relay.db")
    const total = RELAY_EVENTS
    const fillStart = performance.now()
    await Effect.runPromise(
      Effect.zipRight(synchronousNormal, fillThroughStore(total)).pipe(Effect.provide(sqliteStore(file)))
    )
    log(`filled ${total} events through the store in ${Math.round(performance.now() - fillStart)} ms`)
    const raw = rawSqliteDrain(file, total)
    const lib = await Effect.runPromise(
      Effect.zipRight(synchronousNormal, Effect.map(timeRelay("noop", 1, total), (r) => r.rate)).pipe(
        Effect.provide(sqliteStore(file))
      )
    )
    log(`relay.sqlite.noop: ${Math.round(lib)} vs raw ${Math.round(raw)} events/s`)
    return [figure("relay.sqlite.noop", lib, "events/s", raw, ">= 100k events/s")]
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

const pgStore = (url: string, maxConnections: number) =>
  SqlEventStore.layer().pipe(
    Layer.provideMerge(PgClient.layer({ url: Redacted.make(url), maxConnections })),
    Layer.provideMerge(Telemetry.disabled)
  )

/** `relay.pg.noop.w1` and `.w4` (one database, filled once; each run has its own subscription). */
export const runPg = (freshDatabase: () => Promise<string>) => async (): Promise<ReadonlyArray<Figure>> => {
  const url = await freshDatabase()
  const total = PG_RELAY_EVENTS
  const fillStart = performance.now()
  await Effect.runPromise(fillThroughStore(total).pipe(Effect.provide(pgStore(url, 4))))
  log(`filled ${total} events through the store in ${Math.round(performance.now() - fillStart)} ms`)
  const vacuum = new pg.Client({ connectionString: url })
  await vacuum.connect()
  await vacuum.query("VACUUM ANALYZE effect_ddd_events")
  await vacuum.end()
  const raw = await rawPgDrain(url, total)
  const w1 = await Effect.runPromise(
    Effect.map(timeRelay("noop-w1", 1, total), (r) => r.rate).pipe(Effect.provide(pgStore(url, 10)))
  )
  log(`relay.pg.noop.w1: ${Math.round(w1)} vs raw ${Math.round(raw)} events/s`)
  const raw4 = await rawPgDrain(url, total)
  const w4 = await Effect.runPromise(
    Effect.map(timeRelay("noop-w4", 4, total), (r) => r.rate).pipe(Effect.provide(pgStore(url, 10)))
  )
  log(`relay.pg.noop.w4: ${Math.round(w4)} vs raw ${Math.round(raw4)} events/s (${(w4 / w1).toFixed(2)}x w1)`)
  return [
    figure("relay.pg.noop.w1", w1, "events/s", raw, ">= 50k events/s"),
    figure("relay.pg.noop.w4", w4, "events/s", raw4, `>= 1.3x w1 (measured ${(w4 / w1).toFixed(2)}x)`)
  ]
}

// --- latency -------------------------------------------------------------------------------------

/** Epoch milliseconds with sub-millisecond precision (comparable across processes after calibration). */
export const now = () => performance.timeOrigin + performance.now()

const percentile = (samples: ReadonlyArray<number>, p: number) => {
  const sorted = [...samples].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
}

const WARMUP = 50

/** `promise`, or a failure after `ms` milliseconds. */
const within = <A>(promise: Promise<A>, ms: number, what: string): Promise<A> => {
  let timer: NodeJS.Timeout | undefined
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(what)), ms)
    })
  ]).finally(() => clearTimeout(timer))
}

/** A subscription calling `arrived(aggregateId, at)` for each event of a `lat-*` aggregate. */
export const probe = (name: string, arrived: (aggregateId: string, at: number) => void) =>
  Subscription.make({
    name,
    events: [Subscription.on(Inventory, "StockRestocked")],
    partitions: 1,
    handle: (_, envelope) =>
      Effect.sync(() => {
        if (envelope.aggregateId.startsWith("lat-")) arrived(envelope.aggregateId, now())
      })
  })

/**
 * In-process latency on SQLite: `execute` one command (one event, on a new aggregate), then wait
 * for the idle relay to call the handler; samples are spaced 3 ms apart.
 */
const inprocLibrary = (file: string) =>
  Effect.gen(function*() {
    const handler = yield* CommandHandler.CommandHandler
    const samples: Array<number> = []
    for (let i = 0; i < WARMUP + LATENCY_SAMPLES; i++) {
      const id = `lat-${i}`
      const arrival = yield* Deferred.make<number>()
      waiting.set(id, arrival)
      yield* handler.execute(Inventory, Sku.make(id), "restock", { quantity: 1 })
      const returned = now()
      const at = yield* Deferred.await(arrival).pipe(
        Effect.timeoutFail({
          duration: "10 seconds",
          onTimeout: () => new Error(`latency.inproc: sample ${i} not delivered in 10 s`)
        })
      )
      if (i >= WARMUP) samples.push(Math.max(0, at - returned))
      yield* Effect.sleep("3 millis")
    }
    return samples
  }).pipe(
    Effect.provide(
      Relay.layer({ subscriptions: [probe("latency", arrivedInProcess)] }).pipe(
        Layer.provideMerge(CommandHandler.layer()),
        Layer.provideMerge(SqlEventStore.layer()),
        Layer.provideMerge(Layer.effectDiscard(synchronousNormal)),
        Layer.provideMerge(SqliteClient.layer({ filename: file })),
        Layer.provideMerge(Telemetry.disabled)
      )
    )
  )

const waiting = new Map<string, Deferred.Deferred<number>>()
const arrivedInProcess = (id: string, at: number) => {
  const arrival = waiting.get(id)
  if (arrival !== undefined) {
    waiting.delete(id)
    Deferred.unsafeDone(arrival, Exit.succeed(at))
  }
}

/**
 * The raw floor in one process: better-sqlite3 commits an event, a microtask wakes the reader,
 * which reads the page after its cursor and parses it, then "calls the handler".
 */
const inprocRaw = async (file: string) => {
  const db = new Database(file)
  db.pragma("journal_mode = WAL")
  db.pragma("synchronous = NORMAL")
  db.exec(
    `CREATE TABLE IF NOT EXISTS raw_events (position INTEGER PRIMARY KEY AUTOINCREMENT, aggregate_id TEXT NOT NULL,
    payload TEXT NOT NULL, metadata TEXT NOT NULL)`
  )
  const insert = db.prepare("INSERT INTO raw_events (aggregate_id, payload, metadata) VALUES (?, ?, ?)")
  const select = db.prepare(`SELECT position, aggregate_id, payload, metadata FROM raw_events WHERE position > ?
    ORDER BY position LIMIT ${PAGE}`)
  const begin = db.prepare("BEGIN")
  const commit = db.prepare("COMMIT")
  let cursor = 0
  const samples: Array<number> = []
  for (let i = 0; i < WARMUP + LATENCY_SAMPLES; i++) {
    const id = `lat-${i}`
    begin.run()
    insert.run(id, `{"_tag":"StockRestocked","sku":"${id}","quantity":1}`, "{}")
    commit.run()
    const returned = now()
    const at = await new Promise<number>((resolve) =>
      queueMicrotask(() => {
        const rows = select.all(cursor) as Array<
          { position: number; aggregate_id: string; payload: string; metadata: string }
        >
        for (const row of rows) {
          JSON.parse(row.payload)
          JSON.parse(row.metadata)
          cursor = row.position
          if (row.aggregate_id === id) resolve(now())
        }
      })
    )
    if (i >= WARMUP) samples.push(at - returned)
    await new Promise((resolve) => setTimeout(resolve, 3))
  }
  db.close()
  return samples
}

/** `latency.inproc.*` and `latency.pg.xproc.*` */
export const runLatency = (freshDatabase: () => Promise<string>) => async (): Promise<ReadonlyArray<Figure>> => {
  const figures: Array<Figure> = []
  const dir = mkdtempSync(join(tmpdir(), "effect-ddd-bench-latency-"))
  try {
    const raw = await inprocRaw(join(dir, "raw.db"))
    const lib = await Effect.runPromise(inprocLibrary(join(dir, "latency.db")))
    log(
      `latency.inproc: p50 ${percentile(lib, 50).toFixed(3)} p99 ${percentile(lib, 99).toFixed(3)} ms ` +
        `vs raw p50 ${percentile(raw, 50).toFixed(3)} p99 ${percentile(raw, 99).toFixed(3)} ms`
    )
    figures.push(
      figure("latency.inproc.p50", percentile(lib, 50), "ms", percentile(raw, 50), "<= 0.5 ms"),
      figure("latency.inproc.p99", percentile(lib, 99), "ms", percentile(raw, 99), "<= 2 ms")
    )
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  const wakeup = XPROC_WAKEUP
  const raw = await xprocRaw(await freshDatabase(), wakeup)
  const lib = await xprocLibrary(await freshDatabase(), wakeup)
  const how = wakeup ? "LISTEN/NOTIFY (PgWakeup)" : "polling every 10 ms"
  log(
    `latency.pg.xproc (${how}): p50 ${percentile(lib, 50).toFixed(3)} p99 ${percentile(lib, 99).toFixed(3)} ms ` +
      `vs raw p50 ${percentile(raw, 50).toFixed(3)} p99 ${percentile(raw, 99).toFixed(3)} ms`
  )
  const note = `no target (${how})`
  figures.push(
    figure("latency.pg.xproc.p50", percentile(lib, 50), "ms", percentile(raw, 50), note),
    figure("latency.pg.xproc.p99", percentile(lib, 99), "ms", percentile(raw, 99), note)
  )
  return figures
}

/** The library across processes: this process executes, `support/relayProcess.ts` runs the relay. */
const xprocLibrary = async (url: string, wakeup: boolean) => {
  // the schema first, so the two processes do not race to migrate
  await Effect.runPromise(Effect.void.pipe(Effect.provide(pgStore(url, 1))))
  const child = fork(join(here, "support", "relayProcess.ts"), [], {
    execArgv: ["--import", "tsx"],
    env: { ...process.env, RELAY_DATABASE_URL: url, RELAY_WAKEUP: wakeup ? "1" : "0" },
    stdio: ["ignore", "inherit", "inherit", "ipc"]
  })
  try {
    const arrivals = new Map<string, (at: number) => void>()
    const early = new Map<string, number>()
    let pong: ((message: { t1: number; t2: number }) => void) | undefined
    const ready = new Promise<void>((resolve, reject) => {
      child.once("exit", (code) => reject(new Error(`relay process exited with ${code}`)))
      child.on("message", (message: RelayMessage) => {
        if (message.type === "ready") resolve()
        else if (message.type === "pong") pong?.(message)
        else if (message.type === "handled") {
          const arrived = arrivals.get(message.id)
          if (arrived === undefined) early.set(message.id, message.at)
          else arrived(message.at)
        }
      })
    })
    await within(ready, 60_000, "the relay process did not start in 60 s")
    // the child's clock minus ours: the ping with the shortest round trip, halfway
    let offset = 0
    let best = Infinity
    for (let i = 0; i < 50; i++) {
      const t1 = now()
      const answer = await within(
        new Promise<{ t1: number; t2: number }>((resolve) => {
          pong = resolve
          child.send({ type: "ping", t1 })
        }),
        10_000,
        "the relay process did not answer a ping in 10 s"
      )
      const t3 = now()
      if (t3 - t1 < best) {
        best = t3 - t1
        offset = answer.t2 - (t1 + t3) / 2
      }
    }
    log(`clock offset to the relay process ${offset.toFixed(3)} ms (round trip ${best.toFixed(3)} ms)`)
    const samples = await Effect.runPromise(
      Effect.gen(function*() {
        const handler = yield* CommandHandler.CommandHandler
        const samples: Array<number> = []
        for (let i = 0; i < WARMUP + LATENCY_SAMPLES; i++) {
          const id = `lat-${i}`
          const arrival = new Promise<number>((resolve) => arrivals.set(id, resolve))
          yield* handler.execute(Inventory, Sku.make(id), "restock", { quantity: 1 })
          const returned = now()
          const at = early.get(id) ?? (yield* Effect.promise(() => arrival).pipe(
            Effect.timeoutFail({
              duration: "10 seconds",
              onTimeout: () => new Error(`latency.pg.xproc: sample ${i} not delivered in 10 s`)
            })
          ))
          if (i >= WARMUP) samples.push(Math.max(0, at - offset - returned))
          yield* Effect.sleep("5 millis")
        }
        return samples
      }).pipe(Effect.provide(commandsOnPg(url, wakeup)))
    )
    return samples
  } finally {
    child.kill("SIGTERM")
  }
}

export type RelayMessage =
  | { readonly type: "ready" }
  | { readonly type: "pong"; readonly t1: number; readonly t2: number }
  | { readonly type: "handled"; readonly id: string; readonly at: number }

/** The command side on PostgreSQL; with `wakeup`, its commits are forwarded by PgWakeup. */
const commandsOnPg = (url: string, wakeup: boolean) => {
  const client = PgClient.layer({ url: Redacted.make(url), maxConnections: 4 })
  return CommandHandler.layer().pipe(
    Layer.provideMerge(SqlEventStore.layer()),
    Layer.provideMerge(wakeup ? Layer.provideMerge(PgWakeup.layer(), client) : client),
    Layer.provideMerge(Telemetry.disabled)
  )
}

/**
 * The raw floor on PostgreSQL: a writer connection commits an event row and, when `notify`,
 * sends `pg_notify` after the commit (as PgWakeup does); a reader connection woken by the
 * notification (or polling every 10 ms) reads the page after its cursor.
 */
const xprocRaw = async (url: string, notify: boolean) => {
  const writer = new pg.Client({ connectionString: url })
  const reader = new pg.Client({ connectionString: url })
  await writer.connect()
  await reader.connect()
  try {
    await writer.query(`CREATE TABLE raw_events (position BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      aggregate_id TEXT NOT NULL, payload JSONB NOT NULL, metadata JSONB NOT NULL)`)
    let cursor = "0"
    let waiter: { readonly id: string; readonly resolve: (at: number) => void } | undefined
    let reading = false
    let again = false
    const read = async (): Promise<void> => {
      if (reading) {
        again = true
        return
      }
      reading = true
      do {
        again = false
        const { rows } = await reader.query<{ position: string; aggregate_id: string }>({
          name: "raw-read",
          text:
            `SELECT position, aggregate_id, payload, metadata FROM raw_events WHERE position > $1 ORDER BY position LIMIT ${PAGE}`,
          values: [cursor]
        })
        for (const row of rows) {
          cursor = row.position
          if (waiter !== undefined && row.aggregate_id === waiter.id) waiter.resolve(now())
        }
      } while (again)
      reading = false
    }
    let poller: NodeJS.Timeout | undefined
    if (notify) {
      await reader.query("LISTEN raw_events")
      reader.on("notification", () => void read())
    } else {
      poller = setInterval(() => void read(), 10)
    }
    const samples: Array<number> = []
    for (let i = 0; i < WARMUP + LATENCY_SAMPLES; i++) {
      const id = `lat-${i}`
      const arrival = new Promise<number>((resolve) => (waiter = { id, resolve }))
      await writer.query("BEGIN")
      await writer.query({
        name: "raw-insert",
        text: "INSERT INTO raw_events (aggregate_id, payload, metadata) VALUES ($1, $2, $3)",
        values: [id, `{"_tag":"StockRestocked","sku":"${id}","quantity":1}`, "{}"]
      })
      await writer.query("COMMIT")
      const returned = now()
      if (notify) void writer.query("SELECT pg_notify('raw_events', 'x')")
      const at = await within(arrival, 10_000, `raw pg latency: sample ${i} not read in 10 s`)
      if (i >= WARMUP) samples.push(at - returned)
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
    if (poller !== undefined) clearInterval(poller)
    return samples
  } finally {
    await writer.end()
    await reader.end()
  }
}

// --- drain1m -------------------------------------------------------------------------------------

export interface DrainResult {
  readonly seconds: number
  readonly delivered: number
  readonly complete: boolean
  /** RSS growth above the start, in MB (peak during the drain). */
  readonly rssMb: number
}

const DRAIN_TIMEOUT = envNumber("BENCH_DRAIN_TIMEOUT", 150)

/** Runs `support/drainProcess.ts` in a fresh process (a clean RSS) and returns what it measured. */
const drainInProcess = (file: string, mode: "raw" | "relay", total: number) =>
  new Promise<DrainResult>((resolve, reject) => {
    const child = fork(join(here, "support", "drainProcess.ts"), [], {
      execArgv: ["--expose-gc", "--import", "tsx"],
      env: {
        ...process.env,
        DRAIN_FILE: file,
        DRAIN_MODE: mode,
        DRAIN_EVENTS: String(total),
        DRAIN_TIMEOUT: String(DRAIN_TIMEOUT)
      },
      stdio: ["ignore", "inherit", "inherit", "ipc"]
    })
    let result: DrainResult | undefined
    child.on("message", (message: DrainResult) => (result = message))
    child.on("error", reject)
    child.on(
      "exit",
      (code) =>
        result !== undefined ? resolve(result) : reject(new Error(`drain process (${mode}) exited with ${code}`))
    )
  })

/** `relay.sqlite.drain1m.rss` and `.seconds` (`BENCH_DRAIN_EVENTS` scales the backlog). */
export const runDrain = async (): Promise<ReadonlyArray<Figure>> => {
  const dir = mkdtempSync(join(tmpdir(), "effect-ddd-bench-drain-"))
  try {
    const file = join(dir, "drain.db")
    const total = DRAIN_EVENTS
    const fillStart = performance.now()
    await Effect.runPromise(Migrations.run.pipe(Effect.provide(SqliteClient.layer({ filename: file }))))
    fillRawSqlite(file, total)
    log(`filled ${total} events with raw inserts in ${Math.round(performance.now() - fillStart)} ms`)
    const raw = await drainInProcess(file, "raw", total)
    const lib = await drainInProcess(file, "relay", total)
    const scale = total === 1_000_000 ? "" : ` (${total} events)`
    const incomplete = lib.complete ? "" : `; timed out: ${lib.delivered} of ${total} in ${lib.seconds.toFixed(0)} s`
    const seconds = lib.complete ? lib.seconds : (lib.seconds * total) / Math.max(1, lib.delivered)
    log(
      `relay.sqlite.drain1m${scale}: ${seconds.toFixed(1)} s, +${lib.rssMb.toFixed(1)} MB RSS vs raw ` +
        `${raw.seconds.toFixed(1)} s, +${raw.rssMb.toFixed(1)} MB${incomplete}`
    )
    return [
      figure("relay.sqlite.drain1m.rss", lib.rssMb, "MB", raw.rssMb, `<= 100 MB${scale}${incomplete}`),
      figure(
        "relay.sqlite.drain1m.seconds",
        seconds,
        "s",
        raw.seconds,
        `<= 20 s${scale}${incomplete}${lib.complete ? "" : ", extrapolated linearly"}`
      )
    ]
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
