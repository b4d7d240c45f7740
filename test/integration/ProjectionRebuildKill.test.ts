/**
 * A projection rebuild that survives SIGKILL, on a SQLite file, with each deployment of the code
 * a relay process of its own (test/support/projectionProcess.ts). Version 1 serves; the process
 * is replaced by one declaring version 2 (one process at a time: SQLite has a single writer, and
 * a rolling deployment beside it is the contract tests' case), which builds version 2 from the
 * start of the log while delivering version 1 on; reads stay on version 1. The process is killed
 * (SIGKILL) mid-build and started again: it resumes from version 2's checkpoint, reads switch to
 * version 2 once it caught up, version 1 is dropped. Each version writes a ledger row per event
 * it applies, in the delivery's transaction, so an event applied twice shows as two rows.
 */
import { SqlClient } from "@effect/sql"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { Effect, Layer, ManagedRuntime, Option } from "effect"
import { CommandHandler, ProjectionVersions } from "effect-ddd"
import { SqlEventStore } from "effect-ddd/sql"
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, describe, expect, it } from "vitest"
import { Inventory } from "../../examples/http-server/Domain/Inventory.js"
import { Sku } from "../../examples/http-server/Domain/Order.js"
import { eventually } from "../support/server.js"

const root = fileURLToPath(new URL("../..", import.meta.url))

/** Events in the log: enough that a build of `BATCH_SIZE` events per transaction takes many transactions. */
const EVENTS = 20_000
const SKUS = 100
const BATCH_SIZE = 10
/** A restarted process takes the killed one's partitions over once its leases expire. */
const LEASE_TTL = 2_000
/** Bounds that only end a hang. */
const HANG = 120_000

interface ProjectionProcess {
  readonly child: ChildProcess
  readonly output: () => string
  /** Send a signal and wait for the exit; resolves with the exit code or the signal. */
  readonly stop: (signal: NodeJS.Signals) => Promise<number | string>
}

const running = new Set<ChildProcess>()

/** Start test/support/projectionProcess.ts declaring `version`, and wait for its `started` line. */
const deploy = (file: string, version: number, owner: string): Promise<ProjectionProcess> => {
  const child = spawn(process.execPath, ["--import", "tsx", "test/support/projectionProcess.ts"], {
    cwd: root,
    env: {
      ...process.env,
      DB_FILE: file,
      VERSION: String(version),
      OWNER: owner,
      BATCH_SIZE: String(BATCH_SIZE),
      LEASE_TTL: String(LEASE_TTL)
    },
    stdio: ["ignore", "pipe", "pipe"]
  })
  running.add(child)
  let output = ""
  child.stdout!.setEncoding("utf8").on("data", (data: string) => (output += data))
  child.stderr!.setEncoding("utf8").on("data", (data: string) => (output += data))
  const exited = new Promise<number | string>((resolve) =>
    child.once("exit", (code, signal) => {
      running.delete(child)
      resolve(code ?? signal ?? "unknown")
    })
  )
  const stop = (signal: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal)
    return exited
  }
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL")
      reject(new Error(`${owner} did not start:\n${output}`))
    }, 60_000)
    const check = () => {
      if (!output.includes(`started ${owner}`)) return
      clearTimeout(timer)
      child.stdout!.off("data", check)
      resolve({ child, output: () => output, stop })
    }
    child.stdout!.on("data", check)
    void exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`${owner} exited (${code}) before starting:\n${output}`))
    })
  })
}

const file = join(mkdtempSync(join(tmpdir(), "effect-ddd-rebuild-")), "projection.db")

/** This process writes the commands and reads what the relay processes wrote (migrations run here first). */
const runtime = ManagedRuntime.make(
  CommandHandler.layer().pipe(
    Layer.provideMerge(SqlEventStore.layer()),
    Layer.provideMerge(SqliteClient.layer({ filename: file }))
  )
)

afterAll(async () => {
  for (const child of running) child.kill("SIGKILL")
  await runtime.dispose()
})

// the catalog first: SQLite's client caches a failed prepare (no such table)
const tableExists = (table: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.map(
      sql<{ name: string }>`SELECT name FROM sqlite_master WHERE type = 'table' AND name = ${table}`,
      (rows) => rows.length > 0
    ))

interface Ledger {
  readonly rows: number
  readonly events: number
  readonly units: number
}

/** A version's ledger: its rows, the distinct events among them and their units; none without its table. */
const ledger = (version: number): Promise<Option.Option<Ledger>> =>
  runtime.runPromise(Effect.gen(function*() {
    const table = `ledger_v${version}`
    if (!(yield* tableExists(table))) return Option.none()
    const sql = yield* SqlClient.SqlClient
    const [row] = yield* sql<{ rows: number; events: number; units: number | null }>`
      SELECT count(*) AS rows, count(DISTINCT event_id) AS events, sum(quantity) AS units FROM ${sql(table)}`
    return Option.some({ rows: Number(row!.rows), events: Number(row!.events), units: Number(row!.units ?? 0) })
  }))

const versions = () =>
  runtime.runPromise(
    Effect.flatMap(
      ProjectionVersions.ProjectionVersions,
      (v) => Effect.map(v.list("stock-ledger"), (all) => all.map((r) => [r.version, r.status] as const))
    )
  )

/** What `init` and `drop` did, in order. */
const calls = () =>
  runtime.runPromise(Effect.gen(function*() {
    if (!(yield* tableExists("projection_calls"))) return []
    const sql = yield* SqlClient.SqlClient
    return (yield* sql<{ call: string }>`SELECT call FROM projection_calls ORDER BY rowid`).map((r) => r.call)
  }))

/** What the application reads: a SKU's units, from the table of the version serving. */
const stockOf = (sku: string) =>
  runtime.runPromise(Effect.gen(function*() {
    const serving = yield* ProjectionVersions.serving("stock-ledger")
    if (Option.isNone(serving)) return Option.none()
    const sql = yield* SqlClient.SqlClient
    const [row] = yield* sql<{ units: number | null }>`
      SELECT sum(quantity) AS units FROM ${sql(`ledger_v${serving.value}`)} WHERE sku = ${sku}`
    return Option.some({ version: serving.value, units: Number(row!.units ?? 0) })
  }))

describe("Projection rebuild across processes (SQLite)", () => {
  it("v1 serves while v2 builds; v2 killed mid-build resumes, then serves; each event applied once", async () => {
    // the log: EVENTS restocks over SKUS SKUs
    const expected = new Map<string, number>()
    await runtime.runPromise(
      Effect.forEach(Array.from({ length: EVENTS }, (_, i) => i), (i) => {
        const sku = `sku-${i % SKUS}`
        const quantity = 1 + (i % 7)
        expected.set(sku, (expected.get(sku) ?? 0) + quantity)
        return CommandHandler.execute(Inventory, Sku.make(sku), "restock", { quantity })
      }, { concurrency: 16, discard: true })
    )
    const units = [...expected.values()].reduce((sum, n) => sum + n, 0)
    const complete: Ledger = { rows: EVENTS, events: EVENTS, units }

    // version 1 is deployed: it serves at once (a new projection) and catches up with the log
    const v1 = await deploy(file, 1, "v1")
    await eventually(async () => {
      expect(await ledger(1)).toEqual(Option.some(complete))
    }, HANG)
    expect(await versions()).toEqual([[1, "serving"]])
    expect(await stockOf("sku-7")).toEqual(Option.some({ version: 1, units: expected.get("sku-7") }))
    // replaced by version 2 (stopped cleanly: its leases are released)
    expect(await v1.stop("SIGTERM")).toBe(0)

    // version 2 builds from the start of the log while version 1 serves
    const first = await deploy(file, 2, "v2-first")
    const progress = await eventually(async () => {
      const built = Option.getOrThrow(await ledger(2))
      expect(built.rows).toBeGreaterThan(0)
      return built
    }, HANG)
    // what reads answer meanwhile (judged once the kill is known to have landed mid-build)
    const during = { versions: await versions(), stock: await stockOf("sku-7"), v1: await ledger(1) }
    expect(await first.stop("SIGKILL")).toBe("SIGKILL")

    // the kill must have landed mid-build: what it committed is part of the log, not all of it
    const atKill = Option.getOrThrow(await ledger(2))
    const statusAtKill = await versions()
    if (atKill.rows >= EVENTS || JSON.stringify(statusAtKill) !== JSON.stringify([[1, "serving"], [2, "building"]])) {
      throw new Error(
        `the build finished before the kill landed (${atKill.rows} of ${EVENTS} events applied, versions ` +
          `${JSON.stringify(statusAtKill)}): raise EVENTS or lower BATCH_SIZE`
      )
    }
    expect(atKill.rows).toBeGreaterThanOrEqual(progress.rows)
    expect(atKill.events).toBe(atKill.rows)
    // so reads were taken while version 2 was building (versions only go forward): version 1 answered
    expect(during).toEqual({
      versions: [[1, "serving"], [2, "building"]],
      stock: Option.some({ version: 1, units: expected.get("sku-7") }),
      v1: Option.some(complete)
    })

    // started again: it resumes from version 2's checkpoint, then reads switch and version 1 is dropped
    const second = await deploy(file, 2, "v2-second")
    await eventually(async () => {
      expect(await versions()).toEqual([[1, "retired"], [2, "serving"]])
    }, HANG).catch((error) => {
      throw new Error(`${String(error)}\nv2-first:\n${first.output()}\nv2-second:\n${second.output()}`)
    })
    expect(await ledger(2)).toEqual(Option.some(complete))
    expect(await ledger(1)).toEqual(Option.none())
    expect(await stockOf("sku-7")).toEqual(Option.some({ version: 2, units: expected.get("sku-7") }))
    expect(await calls()).toEqual(["init 1", "init 2", "drop 1"])
    expect(await second.stop("SIGTERM")).toBe(0)
    console.log(`killed after ${atKill.rows} of ${EVENTS} events of version 2 were applied`)
  }, 300_000)
})
