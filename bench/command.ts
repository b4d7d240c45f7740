/**
 * Command throughput on SQL, beside a raw-driver loop doing the same SQL in the same run:
 *
 *   BEGIN; SELECT state row; INSERT event RETURNING position; UPSERT state row; COMMIT
 *
 * with the same JSON work (parse the state, stringify payload, metadata and state) and a UUIDv7
 * per event. The library path is `CommandHandler.execute(Inventory, sku, "restock", ...)` on a
 * state-stored aggregate; callers spread over 1,000 SKUs. Telemetry is off (`Telemetry.disabled`)
 * except in `command.sqlite.normal.c1.telemetry`: metrics, and spans exported through OpenTelemetry
 * (a batch span processor over an exporter that drops them), against the same run with telemetry
 * off as its baseline. Each figure is the median of `BENCH_ROUNDS` (3) rounds, raw and library
 * in turn.
 *
 * Each SQLite figure has a second baseline, `<figure>.vs-effect-sql`: the raw loop's statements
 * and JSON written with `@effect/sql` (`sql.withTransaction` and `sql` template statements) and
 * run by callers of the same shape, in the same rounds. It is what an Effect application pays for
 * this work written without the library (not a lower bound on what the library could cost).
 */
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { BatchSpanProcessor, type ReadableSpan, type SpanExporter } from "@opentelemetry/sdk-trace-base"
import Database from "better-sqlite3"
import { Effect, Layer, Redacted } from "effect"
import { CommandHandler, Telemetry } from "effect-ddd"
import { OpenTelemetry } from "effect-ddd/opentelemetry"
import { SqlEventStore } from "effect-ddd/sql"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import pg from "pg"
import { v7 } from "uuid"
import { Inventory } from "../examples/http-server/Domain/Inventory.js"
import { Sku } from "../examples/http-server/Domain/Order.js"
import { type Figure, figure, rotated } from "./report.js"

const SKUS = Array.from({ length: 1000 }, (_, i) => Sku.make(`sku-${i}`))
const SECONDS = Number(process.env["BENCH_SECONDS"] ?? 3)

/**
 * How the callers are made: `loops`, long-lived fibers each executing one command after another;
 * `forEach`, `Effect.forEach(commands, execute, { concurrency: callers })` over chunks of
 * `FOR_EACH_CHUNK` commands, as batch code or a server with a fiber per request runs them.
 */
type Shape = "loops" | "forEach"

/** Commands per `Effect.forEach` of the `forEach` shape. */
const FOR_EACH_CHUNK = 1000

/**
 * Runs `callers` concurrent callers of `command` for `seconds`; returns commands/s. Telemetry off:
 * `Telemetry.disabled` in the layer, and Effect's tracer off as for the `@effect/sql` loop.
 */
const library = (
  layer: Layer.Layer<CommandHandler.CommandHandler | SqlClient.SqlClient, unknown>,
  callers: number,
  setup: Effect.Effect<void, unknown, SqlClient.SqlClient> = Effect.void,
  shape: Shape = "loops"
) => Effect.map(measure(layer, callers, setup, shape), (m) => m.rate).pipe(Effect.withTracerEnabled(false))

/** Commands per second of wall-clock time, and per second of this process's CPU time. */
const measure = (
  layer: Layer.Layer<CommandHandler.CommandHandler | SqlClient.SqlClient, unknown>,
  callers: number,
  setup: Effect.Effect<void, unknown, SqlClient.SqlClient> = Effect.void,
  shape: Shape = "loops"
) =>
  Effect.gen(function*() {
    yield* setup
    const handler = yield* CommandHandler.CommandHandler
    return yield* drive((sku) => handler.execute(Inventory, sku, "restock", { quantity: 1 }), callers, shape)
  }).pipe(Effect.provide(layer))

/**
 * Runs `restock` for `SECONDS` from `callers` concurrent callers made as `shape` says, over the
 * SKUs in turn, after a warm-up of 50 commands; commands per second of wall-clock time and of
 * this process's CPU time.
 */
const drive = <E, R>(restock: (sku: Sku) => Effect.Effect<unknown, E, R>, callers: number, shape: Shape) =>
  Effect.gen(function*() {
    let count = 0
    let end = 0
    // the clock is checked in the loop: with a synchronous driver (SQLite) the fibers only yield
    // through microtasks, so a timer would not fire until the loop ends
    const loop = (caller: number) =>
      Effect.gen(function*() {
        let i = caller
        while (performance.now() < end) {
          yield* restock(SKUS[i % SKUS.length]!)
          count++
          i += callers
        }
      })
    // fibers that start and end: each command of a chunk in a fiber of Effect.forEach's
    const forEach = Effect.gen(function*() {
      let i = 0
      while (performance.now() < end) {
        const chunk = Array.from({ length: FOR_EACH_CHUNK }, () => SKUS[i++ % SKUS.length]!)
        yield* Effect.forEach(chunk, restock, { concurrency: callers })
        count += chunk.length
      }
    })
    // warm-up
    yield* Effect.forEach(SKUS.slice(0, 50), restock)
    const start = performance.now()
    const cpu = process.cpuUsage()
    end = start + SECONDS * 1000
    if (shape === "forEach") yield* forEach
    else yield* Effect.forEach(Array.from({ length: callers }, (_, c) => c), loop, { concurrency: "unbounded" })
    const used = process.cpuUsage(cpu)
    return { rate: count / ((performance.now() - start) / 1000), cpuRate: count / ((used.user + used.system) / 1e6) }
  })

const restockState = (previous: string | undefined, sku: string) => {
  const state = previous === undefined
    ? { sku, available: 0, reserved: 0, sold: 0, reservations: {} }
    : JSON.parse(previous)
  state.available += 1
  return state
}

const event = (sku: string, version: number) => ({
  eventId: v7(),
  payload: JSON.stringify({ _tag: "StockRestocked", sku, quantity: 1 }),
  metadata: JSON.stringify({ correlationId: "raw" }),
  version
})

/** The raw loops' tables on SQLite. */
const RAW_EVENTS = `CREATE TABLE IF NOT EXISTS raw_events (position INTEGER PRIMARY KEY AUTOINCREMENT,
  event_id TEXT NOT NULL UNIQUE, aggregate_type TEXT NOT NULL, aggregate_id TEXT NOT NULL, version INTEGER NOT NULL,
  event_type TEXT NOT NULL, schema_version INTEGER NOT NULL, payload TEXT NOT NULL, metadata TEXT NOT NULL,
  occurred_at BIGINT NOT NULL, UNIQUE (aggregate_type, aggregate_id, version))`
const RAW_STATES = `CREATE TABLE IF NOT EXISTS raw_states (aggregate_type TEXT NOT NULL, aggregate_id TEXT NOT NULL,
  version INTEGER NOT NULL, state TEXT NOT NULL, PRIMARY KEY (aggregate_type, aggregate_id))`

/** The raw better-sqlite3 loop: one transaction per command. */
const rawSqlite = (file: string, synchronous: "NORMAL" | "FULL") => {
  const db = new Database(file)
  db.pragma("journal_mode = WAL")
  db.pragma(`synchronous = ${synchronous}`)
  db.exec(`${RAW_EVENTS}; ${RAW_STATES}`)
  const begin = db.prepare("BEGIN")
  const commit = db.prepare("COMMIT")
  const select = db.prepare("SELECT version, state FROM raw_states WHERE aggregate_type = ? AND aggregate_id = ?")
  const insert = db.prepare(
    `INSERT INTO raw_events (event_id, aggregate_type, aggregate_id, version, event_type, schema_version,
    payload, metadata, occurred_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING position`
  )
  const upsert = db.prepare(`INSERT INTO raw_states (aggregate_type, aggregate_id, version, state) VALUES (?, ?, ?, ?)
    ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE SET version = excluded.version, state = excluded.state`)
  let count = 0
  const end = performance.now() + SECONDS * 1000
  const start = performance.now()
  for (let i = 0; performance.now() < end; i++) {
    const sku = SKUS[i % SKUS.length]!
    begin.run()
    const row = select.get("Inventory", sku) as { version: number; state: string } | undefined
    const version = (row?.version ?? 0) + 1
    const state = restockState(row?.state, sku)
    const e = event(sku, version)
    insert.get(e.eventId, "Inventory", sku, version, "StockRestocked", 1, e.payload, e.metadata, Date.now())
    upsert.run("Inventory", sku, version, JSON.stringify(state))
    commit.run()
    count++
  }
  const rate = count / ((performance.now() - start) / 1000)
  db.close()
  return rate
}

/**
 * The raw loop's work written with `@effect/sql`, as an application would write it without the
 * library: `sql.withTransaction` around the same SELECT, INSERT and UPSERT as `sql` template
 * statements, the same JSON work, run by callers of the library's shape.
 */
const effectSqlSqlite = (file: string, synchronous: "NORMAL" | "FULL", callers: number, shape: Shape) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql.unsafe(`PRAGMA synchronous = ${synchronous}`)
    yield* sql.unsafe(RAW_EVENTS)
    yield* sql.unsafe(RAW_STATES)
    const restock = (sku: Sku) =>
      sql.withTransaction(Effect.gen(function*() {
        const rows = yield* sql<{ version: number; state: string }>`SELECT version, state FROM raw_states
          WHERE aggregate_type = ${"Inventory"} AND aggregate_id = ${sku}`
        const version = (rows[0]?.version ?? 0) + 1
        const state = restockState(rows[0]?.state, sku)
        const e = event(sku, version)
        yield* sql`INSERT INTO raw_events (event_id, aggregate_type, aggregate_id, version, event_type, schema_version,
          payload, metadata, occurred_at) VALUES (${e.eventId}, ${"Inventory"}, ${sku}, ${version}, ${"StockRestocked"},
          ${1}, ${e.payload}, ${e.metadata}, ${Date.now()}) ON CONFLICT DO NOTHING RETURNING position`
        yield* sql`INSERT INTO raw_states (aggregate_type, aggregate_id, version, state)
          VALUES (${"Inventory"}, ${sku}, ${version}, ${JSON.stringify(state)})
          ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE SET version = excluded.version, state = excluded.state`
      }))
    return (yield* drive(restock, callers, shape)).rate
  }).pipe(
    Effect.provide(SqliteClient.layer({ filename: file })),
    // telemetry off, as for the library: no span per statement and per transaction
    Effect.withTracerEnabled(false)
  )

/** The raw node-postgres loop: `callers` connections, one transaction per command each. */
const rawPg = async (url: string, callers: number) => {
  const pool = new pg.Pool({ connectionString: url, max: callers })
  await pool.query(`CREATE TABLE IF NOT EXISTS raw_events (position BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE, aggregate_type TEXT NOT NULL, aggregate_id TEXT NOT NULL, version INTEGER NOT NULL,
    event_type TEXT NOT NULL, schema_version INTEGER NOT NULL, payload JSONB NOT NULL, metadata JSONB NOT NULL,
    occurred_at BIGINT NOT NULL, UNIQUE (aggregate_type, aggregate_id, version));
    CREATE TABLE IF NOT EXISTS raw_states (aggregate_type TEXT NOT NULL, aggregate_id TEXT NOT NULL, version INTEGER NOT NULL,
    state JSONB NOT NULL, PRIMARY KEY (aggregate_type, aggregate_id));`)
  let count = 0
  const end = performance.now() + SECONDS * 1000
  const start = performance.now()
  await Promise.all(Array.from({ length: callers }, async (_, caller) => {
    const client = await pool.connect()
    for (let i = caller; performance.now() < end; i += callers) {
      const sku = SKUS[i % SKUS.length]!
      await client.query("BEGIN")
      const { rows } = await client.query({
        name: "select",
        text: "SELECT version, state FROM raw_states WHERE aggregate_type = $1 AND aggregate_id = $2",
        values: ["Inventory", sku]
      })
      const version = (rows[0]?.version ?? 0) + 1
      const state = rows[0] === undefined
        ? restockState(undefined, sku)
        : { ...rows[0].state, available: rows[0].state.available + 1 }
      const e = event(sku, version)
      await client.query({
        name: "insert",
        text:
          `INSERT INTO raw_events (event_id, aggregate_type, aggregate_id, version, event_type, schema_version, payload,
          metadata, occurred_at) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb, $9) ON CONFLICT DO NOTHING RETURNING position`,
        values: [e.eventId, "Inventory", sku, version, "StockRestocked", 1, e.payload, e.metadata, Date.now()]
      })
      await client.query({
        name: "upsert",
        text: `INSERT INTO raw_states (aggregate_type, aggregate_id, version, state) VALUES ($1, $2, $3, $4::jsonb)
          ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE SET version = excluded.version, state = excluded.state`,
        values: ["Inventory", sku, version, JSON.stringify(state)]
      })
      await client.query("COMMIT")
      count++
    }
    client.release()
  }))
  const rate = count / ((performance.now() - start) / 1000)
  await pool.end()
  return rate
}

const sqliteLayer = (file: string, options: CommandHandler.Options = {}) =>
  CommandHandler.layer(options).pipe(
    Layer.provideMerge(SqlEventStore.layer()),
    Layer.provideMerge(SqliteClient.layer({ filename: file })),
    Layer.provide(Telemetry.disabled)
  )

/** Spans are exported in batches, then dropped: the cost of producing them, not of a collector. */
const droppingExporter: SpanExporter = {
  export: (_spans: Array<ReadableSpan>, done) => done({ code: 0 }),
  shutdown: () => Promise.resolve()
}

/** Metrics and tracing on, exported through OpenTelemetry. */
const sqliteTelemetryLayer = (file: string) =>
  CommandHandler.layer().pipe(
    Layer.provideMerge(SqlEventStore.layer()),
    Layer.provideMerge(SqliteClient.layer({ filename: file })),
    Layer.provideMerge(
      OpenTelemetry.layer({ serviceName: "bench", spanProcessor: new BatchSpanProcessor(droppingExporter) })
    )
  )

const median = (values: ReadonlyArray<number>) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!

/**
 * `command.sqlite.normal.c1` with telemetry on, against the same with telemetry off: five rounds
 * each, alternating (fresh database files), medians compared. Also per second of CPU time, which
 * a shared machine disturbs less than wall-clock time.
 */
const telemetryOverhead = async (dir: string): Promise<ReadonlyArray<Figure>> => {
  const on: Array<{ rate: number; cpuRate: number }> = []
  const off: Array<{ rate: number; cpuRate: number }> = []
  const normal = Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe("PRAGMA synchronous = NORMAL"))
  for (let round = 0; round < 5; round++) {
    off.push(await Effect.runPromise(measure(sqliteLayer(join(dir, `telemetry-off-${round}.db`)), 1, normal)))
    on.push(await Effect.runPromise(measure(sqliteTelemetryLayer(join(dir, `telemetry-on-${round}.db`)), 1, normal)))
  }
  const show = (runs: ReadonlyArray<{ rate: number; cpuRate: number }>) =>
    runs.map((r) => `${Math.round(r.rate)} (${Math.round(r.cpuRate)}/cpu-s)`).join(", ")
  console.error(`  command.sqlite.normal.c1.telemetry: on ${show(on)}; off ${show(off)}`)
  return [
    figure(
      "command.sqlite.normal.c1.telemetry",
      median(on.map((r) => r.rate)),
      "commands/s",
      median(off.map((r) => r.rate)),
      ">= 0.85x telemetry off"
    ),
    figure(
      "command.sqlite.normal.c1.telemetry.cpu",
      median(on.map((r) => r.cpuRate)),
      "commands/cpu-s",
      median(off.map((r) => r.cpuRate)),
      ">= 0.85x telemetry off"
    )
  ]
}

/** Rounds per figure: raw and library alternate, so a slow spell of a shared machine hits both. */
const ROUNDS = Number(process.env["BENCH_ROUNDS"] ?? 3)

/** What the issue asks of each command figure, as a ratio to the raw loop. */
const targets: Record<string, string> = {
  "command.sqlite.normal.c1": ">= 0.65x raw",
  "command.sqlite.normal.c16": ">= 1.0x raw (group commit)",
  "command.sqlite.full.c16": ">= 1.0x raw (group commit)",
  "command.sqlite.normal.forEach16": ">= 0.9x raw (group commit)",
  "command.sqlite.full.forEach16": ">= 1.2x raw (group commit)",
  "command.pg.c8": ">= 0.9x raw; 1.0x with group commit",
  "command.pg.forEach8": ">= 0.9x raw"
}

/**
 * `ROUNDS` rounds of the raw loop and the library (and, when given, the same work written with
 * `@effect/sql`), in an order rotated each round, each on fresh tables (new SQLite files, new
 * PostgreSQL databases); each figure is the median of its rounds. With `effectSql`, a second figure, `<name>.vs-effect-sql`:
 * the same library rounds against the `@effect/sql` loop's.
 */
const alternate = async (
  name: string,
  raw: (round: number) => Promise<number> | number,
  lib: (round: number) => Promise<number>,
  effectSql?: (round: number) => Promise<number>
): Promise<ReadonlyArray<Figure>> => {
  const raws: Array<number> = []
  const libs: Array<number> = []
  const effectSqls: Array<number> = []
  const runs: Array<(round: number) => Promise<void>> = [
    async (round) => void raws.push(await raw(round)),
    async (round) => void libs.push(await lib(round))
  ]
  if (effectSql !== undefined) runs.push(async (round) => void effectSqls.push(await effectSql(round)))
  for (let round = 0; round < ROUNDS; round++) {
    for (const run of rotated(runs, round)) await run(round)
  }
  const show = (rates: ReadonlyArray<number>) => rates.map(Math.round).join(", ")
  console.error(
    `  ${name}: library ${show(libs)}; raw ${show(raws)}${
      effectSql === undefined ? "" : `; @effect/sql ${show(effectSqls)}`
    }`
  )
  const figures = [figure(name, median(libs), "commands/s", median(raws), targets[name])]
  if (effectSql !== undefined) {
    figures.push(
      figure(
        `${name}.vs-effect-sql`,
        median(libs),
        "commands/s",
        median(effectSqls),
        ">= 1.0x the same work with @effect/sql"
      )
    )
  }
  return figures
}

/**
 * Whether a figure is wanted: `npm run bench -- command.sqlite.full` measures only those figures
 * (the arguments reach this module through `process.argv`).
 */
const selected = (name: string) => {
  const filters = process.argv.slice(2)
  return filters.length === 0 || filters.some((f) => name.startsWith(f) || f.startsWith(`${name}.`))
}

export const runSqlite = async (): Promise<ReadonlyArray<Figure>> => {
  const dir = mkdtempSync(join(tmpdir(), "effect-ddd-bench-"))
  const figures: Array<Figure> = []
  try {
    for (
      const [name, synchronous, callers, shape] of [
        ["command.sqlite.normal.c1", "NORMAL", 1, "loops"],
        ["command.sqlite.normal.c16", "NORMAL", 16, "loops"],
        ["command.sqlite.normal.forEach16", "NORMAL", 16, "forEach"],
        ["command.sqlite.full.c1", "FULL", 1, "loops"],
        ["command.sqlite.full.c16", "FULL", 16, "loops"],
        ["command.sqlite.full.forEach16", "FULL", 16, "forEach"]
      ] as const
    ) {
      if (!selected(name)) continue
      figures.push(
        ...(await alternate(
          name,
          (round) => rawSqlite(join(dir, `${name}.raw.${round}.db`), synchronous),
          (round) =>
            Effect.runPromise(
              library(
                sqliteLayer(join(dir, `${name}.${round}.db`)),
                callers,
                Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(`PRAGMA synchronous = ${synchronous}`)),
                shape
              )
            ),
          (round) =>
            Effect.runPromise(effectSqlSqlite(join(dir, `${name}.effect-sql.${round}.db`), synchronous, callers, shape))
        ))
      )
      if (name === "command.sqlite.normal.c1") figures.push(...(await telemetryOverhead(dir)))
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  return figures
}

export const runPg = (url: () => Promise<string>) => async (): Promise<ReadonlyArray<Figure>> => {
  const figures: Array<Figure> = []
  const groupCommit = process.env["BENCH_PG_GROUP_COMMIT"]
  for (
    const [name, callers, shape] of [
      ["command.pg.c1", 1, "loops"],
      ["command.pg.c8", 8, "loops"],
      ["command.pg.forEach8", 8, "forEach"]
    ] as const
  ) {
    if (!selected(name)) continue
    figures.push(
      ...await alternate(name, async () => rawPg(await url(), callers), async () => {
        const layer = CommandHandler.layer().pipe(
          Layer.provide(Telemetry.disabled),
          Layer.provideMerge(SqlEventStore.layer(
            groupCommit === undefined
              ? {}
              : groupCommit === "off"
              ? { groupCommit: false }
              : { groupCommit: { concurrency: Number(groupCommit) } }
          )),
          Layer.provideMerge(PgClient.layer({ url: Redacted.make(await url()), maxConnections: callers }))
        )
        return Effect.runPromise(library(layer, callers, Effect.void, shape))
      })
    )
  }
  return figures
}
