/**
 * The `effect-ddd` CLI against a real database, its commands run in the test's process (the
 * program the bin runs; test/integration/cli/ runs the bin itself), while an application
 * (test/support/cliApp.ts) runs its relay in another process: migrate,
 * status, dead letters (list, show, redrive with and without a relay, discard) and replay of a
 * projection, with the relay running and stopped. Run on SQLite and PostgreSQL.
 */
import type { SqlClient as Sql } from "@effect/sql"
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import { CommandHandler } from "effect-ddd"
import { SqlEventStore } from "effect-ddd/sql"
import { type ChildProcess, spawn } from "node:child_process"
import { Inventory } from "../../examples/http-server/Domain/Inventory.js"
import { Sku } from "../../examples/http-server/Domain/Order.js"
import { cliInProcess as cli, parsed, root, stackTrace } from "../support/cli.js"
import { delivery, type Stores } from "../support/stores.js"

export interface Database {
  readonly dialect: "sqlite" | "pg"
  /** The file or URL, as passed to `--database`. */
  readonly target: string
}

const clientOf = (db: Database): Layer.Layer<Sql.SqlClient, unknown> =>
  db.dialect === "pg"
    ? PgClient.layer({ url: Redacted.make(db.target), maxConnections: 2 })
    : SqliteClient.layer({ filename: db.target })

/** Run an effect in this process on the database (what the application would do). */
const onDatabase = <A, E>(
  db: Database,
  effect: Effect.Effect<A, E, CommandHandler.CommandHandler | Stores | Sql.SqlClient>
) =>
  Effect.runPromise(effect.pipe(Effect.provide(
    CommandHandler.layer().pipe(
      Layer.provideMerge(SqlEventStore.layerWithoutMigrations()),
      Layer.provideMerge(clientOf(db))
    )
  )))

const restocked = (sku: string, quantity: number) =>
  Effect.map(CommandHandler.execute(Inventory, Sku.make(sku), "restock", { quantity }), (r) => r.events[0]!)

const restock = (sku: string, quantity: number) => Effect.map(restocked(sku, quantity), (event) => event.position)

/** Deliveries recorded by the `stock-levels` projection, per event position. */
const deliveries = (db: Database) =>
  onDatabase(
    db,
    Effect.flatMap(SqlClient.SqlClient, (sql) =>
      Effect.map(
        sql<{ position: number | string; n: number | string }>`
      SELECT position, count(*) AS n FROM cli_deliveries GROUP BY position ORDER BY position`,
        (rows) => new Map(rows.map((r) => [Number(r.position), Number(r.n)]))
      ))
  )

const deadLetterCount = (db: Database, subscription: string) =>
  onDatabase(
    db,
    Effect.flatMap(delivery, ({ deadLetters }) => Effect.map(deadLetters.list({ subscription }), (l) => l.length))
  )

/** Wait until `check` resolves without throwing. */
const eventually = async <A>(check: () => Promise<A>, timeoutMillis = 30_000): Promise<A> => {
  const deadline = Date.now() + timeoutMillis
  while (true) {
    try {
      return await check()
    } catch (error) {
      if (Date.now() > deadline) throw error
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }
}

interface App {
  readonly child: ChildProcess
  readonly output: () => string
  readonly stop: () => Promise<void>
}

/** Start the application's relay and wait for it to run. */
const startApp = (db: Database, owner: string): Promise<App> =>
  new Promise((resolve, reject) => {
    let output = ""
    const child = spawn(process.execPath, ["--import", "tsx", "test/support/cliApp.ts"], {
      cwd: root,
      env: { ...process.env, DB_KIND: db.dialect, DB_TARGET: db.target, OWNER: owner },
      stdio: ["ignore", "pipe", "pipe"]
    })
    const exited = new Promise<void>((done) => child.once("exit", () => done()))
    const app: App = {
      child,
      output: () => output,
      stop: async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM")
        await exited
      }
    }
    child.stderr!.setEncoding("utf8").on("data", (data: string) => (output += data))
    child.stdout!.setEncoding("utf8").on("data", (data: string) => {
      output += data
      if (output.includes(`started ${owner}`)) resolve(app)
    })
    child.once("exit", (code) => reject(new Error(`the application exited (${code}) before starting:\n${output}`)))
  })

export const suite = (name: string, database: () => Promise<Database>) =>
  describe(`CLI on ${name}`, { timeout: 120_000 }, () => {
    let db: Database
    let app: App | undefined
    const positions: Array<number> = []
    const run = (...args: Array<string>) => cli([...args, "--database", db.target])
    afterAll(async () => {
      await app?.stop()
    })

    it("refuses a database without the library's tables, and migrate creates them", async () => {
      db = await database()
      const unmigrated = await run("status")
      expect(unmigrated.code, unmigrated.stderr).toBe(1)
      expect(unmigrated.stderr).toContain("run effect-ddd migrate")
      expect(unmigrated.stderr).not.toMatch(stackTrace)

      const migrated = await run("migrate")
      expect(migrated.code, migrated.stderr).toBe(0)
      expect(migrated.stdout).toContain(
        "applied 0001_events, 0002_states, 0003_idempotency, 0004_outbox, 0005_deadlines, 0006_subscriptions, 0007_dead_letter_messages, 0008_retention, 0009_projections"
      )
      expect(parsed(await run("migrate", "--json"))).toMatchObject({ applied: [], total: 9 })
      // DATABASE_URL works as well as --database
      const viaEnv = await cli(["status", "--json"], { DATABASE_URL: db.target })
      expect(parsed(viaEnv)).toMatchObject({ events: 0, subscriptions: [] })
    })

    it("status: lag, dead letters, owners and leases of the subscriptions a relay runs", async () => {
      for (
        const [sku, quantity] of [["ok-1", 1], ["ok-2", 2], ["broken-1", 3], ["ok-3", 4], ["broken-1", 5], [
          "ok-4",
          6
        ]] as const
      ) {
        positions.push(await onDatabase(db, restock(sku, quantity)))
      }
      app = await startApp(db, "relay-a")
      // both subscriptions caught up: every partition of each (their partitions go separately)
      const report = await eventually(async () => {
        expect((await deliveries(db)).size).toBe(6)
        expect(await deadLetterCount(db, "audit")).toBe(2)
        const report = parsed(await run("status", "--json"))
        expect(report.subscriptions.map((s: any) => [s.name, s.lag])).toEqual([["audit", 0], ["stock-levels", 0]])
        return report
      })
      expect(report.events).toBe(6)
      expect(report.subscriptions.map((s: any) => s.name)).toEqual(["audit", "stock-levels"])
      const [audit, levels] = report.subscriptions
      expect(levels).toMatchObject({
        kind: "projection",
        registered: true,
        lag: 0,
        oldestUndeliveredAgeMillis: 0,
        owners: ["relay-a"],
        health: { status: "healthy", reasons: [] }
      })
      expect(levels.partitions.map((p: any) => [p.partition, p.lease.owner, p.lease.live])).toEqual([[
        0,
        "relay-a",
        true
      ], [1, "relay-a", true]])
      expect(audit).toMatchObject({
        kind: "handler",
        lag: 0,
        deadLetters: { total: 2, failed: 1, parked: 1, poison: 0, redrive: 0 },
        health: { status: "degraded", reasons: ["dead letters 2 reached the degraded threshold 1"] }
      })

      const table = await run("status")
      expect(table.code, table.stderr).toBe(0)
      for (
        const text of [
          "SUBSCRIPTION",
          "HEALTH",
          "OLDEST UNDELIVERED",
          "stock-levels",
          "projection",
          "relay-a",
          "2/2 leased",
          "CHECKPOINT",
          "audit: dead letters 2 reached the degraded threshold 1"
        ]
      ) {
        expect(table.stdout).toContain(text)
      }
      const one = parsed(await run("status", "--json", "--subscription", "audit"))
      expect(one.subscriptions.map((s: any) => s.name)).toEqual(["audit"])
      const unknown = await run("status", "--subscription", "nope")
      expect([unknown.code, unknown.stderr]).toEqual([1, "effect-ddd: no subscription nope\n"])
    })

    it("dead-letters list and show: the failed event, the one parked behind it, the error and the payload", async () => {
      const letters = parsed(await run("dead-letters", "list", "--json", "--subscription", "audit"))
      expect(letters.map((l: any) => [l.kind, l.aggregateId, l.version, l.status])).toEqual([
        ["failed", "broken-1", 1, "open"],
        ["parked", "broken-1", 2, "open"]
      ])
      expect(parsed(await run("dead-letters", "list", "--json", "--subscription", "stock-levels"))).toEqual([])
      expect(parsed(await run("dead-letters", "list", "--json", "--aggregate-id", "broken-1"))).toHaveLength(2)
      const table = await run("dead-letters", "list")
      expect(table.stdout).toContain("cannot audit broken-1")
      expect(table.stdout).toContain("Inventory/broken-1")

      const shown = await run("dead-letters", "show", letters[0].id)
      expect(shown.code, shown.stderr).toBe(0)
      expect(shown.stdout).toContain("error:\nError: cannot audit broken-1")
      expect(shown.stdout).toContain(`"sku": "broken-1"`)
      expect(parsed(await run("dead-letters", "show", letters[0].id, "--json")).event.payload).toEqual({
        _tag: "StockRestocked",
        sku: "broken-1",
        quantity: 3
      })
      const missing = await run("dead-letters", "show", "nope")
      expect([missing.code, missing.stderr]).toEqual([
        1,
        "effect-ddd: no dead letter nope (effect-ddd dead-letters list shows them)\n"
      ])
    })

    it("dead-letters redrive: the running relay redelivers the sequence; a failure again is reported, exit 1", async () => {
      const [failed] = parsed(await run("dead-letters", "list", "--json", "--subscription", "audit"))
      const again = await run("dead-letters", "redrive", failed.id)
      expect(again.code).toBe(1)
      expect(again.stdout).toContain(
        `redrive failed: 0 of 2 dead letter(s) of Inventory/broken-1 for audit delivered; ${failed.id} failed again`
      )
      // the redrive ran audit's retry schedule (2 attempts) again: 2 + 2 attempts in all
      expect(again.stdout).toContain(
        `\n  StockRestocked ${failed.eventId} @1: dead-lettered again (4 attempts in all): Error: cannot audit broken-1\n`
      )
      expect(again.stdout).toMatch(/\n {2}StockRestocked \S+ @2: not tried, still parked behind it\n/)
      expect(await deadLetterCount(db, "audit")).toBe(2)

      await onDatabase(
        db,
        Effect.flatMap(SqlClient.SqlClient, (sql) => sql`INSERT INTO cli_fixed (sku) VALUES ('broken-1')`)
      )
      const redriven = await run("dead-letters", "redrive", failed.id, "--json")
      expect(redriven.code, redriven.stderr).toBe(0)
      expect(parsed(redriven)).toMatchObject({
        outcome: "delivered",
        marked: 2,
        delivered: 2,
        events: [{ version: 1, outcome: "delivered" }, { version: 2, outcome: "delivered" }],
        remaining: [],
        relayRunning: true
      })
      expect(await deadLetterCount(db, "audit")).toBe(0)
    })

    it("replay of a projection from a position while the relay runs: those events delivered again, once", async () => {
      const handler = await run("replay", "audit")
      expect(handler.code).toBe(1)
      expect(handler.stderr).toContain("audit is a handler, not a projection")

      const from = positions[3]!
      const replayed = await run("replay", "stock-levels", "--from", String(from))
      expect(replayed.code, replayed.stderr).toBe(0)
      expect(replayed.stdout).toContain(`replay of stock-levels from position ${from}:`)
      expect(replayed.stdout).toContain("3 event(s) to deliver")
      expect(replayed.stdout).toContain("replayed: 3 event(s) delivered")
      const counts = await deliveries(db)
      expect(positions.map((p) => counts.get(p))).toEqual([1, 1, 1, 2, 2, 2])
      const beyond = await run("replay", "stock-levels", "--from", String(positions[5]! + 1_000))
      expect([beyond.code, beyond.stderr]).toEqual([
        1,
        `effect-ddd: no event at or after position ${positions[5]! + 1_000}\n`
      ])
    })

    it("with the relay stopped: lag grows, a redrive waits for a relay, discard drops, a replay runs when a relay starts", async () => {
      positions.push(await onDatabase(db, restock("broken-2", 7)))
      await eventually(async () => expect(await deadLetterCount(db, "audit")).toBe(1))
      // the projection has delivered everything so far: the lag below counts only what comes after the stop
      await eventually(async () =>
        expect(parsed(await run("status", "--json", "--subscription", "stock-levels")).subscriptions[0].lag).toBe(0)
      )
      await app!.stop()
      app = undefined
      const undelivered = []
      for (const quantity of [8, 9]) undelivered.push(await onDatabase(db, restocked("ok-5", quantity)))
      positions.push(...undelivered.map((event) => event.position))

      const report = parsed(await run("status", "--json"))
      const levels = report.subscriptions.find((s: any) => s.name === "stock-levels")
      expect(levels).toMatchObject({ lag: 2, owners: [] })
      // the age of the oldest undelivered event, as of the report
      expect(levels.oldestUndeliveredAgeMillis).toBe(report.checkedAt - undelivered[0]!.occurredAt.getTime())
      expect(levels.partitions.every((p: any) => p.lease.live === false)).toBe(true)
      expect((await run("status")).stdout).toContain("none (no relay running)")

      const [letter] = parsed(await run("dead-letters", "list", "--json", "--subscription", "audit"))
      const pending = await run("dead-letters", "redrive", letter.id)
      expect(pending.code, pending.stderr).toBe(0)
      expect(pending.stdout).toContain(
        "marked for redrive: 1 dead letter(s) of Inventory/broken-2 for audit; no relay runs audit now"
      )
      expect(parsed(await run("dead-letters", "list", "--json"))[0].status).toBe("redrive")
      const discarded = await run("dead-letters", "discard", letter.id)
      expect([discarded.code, discarded.stdout]).toEqual([
        0,
        `discarded ${letter.id} (StockRestocked of Inventory/broken-2)\n`
      ])
      expect(parsed(await run("dead-letters", "list", "--json"))).toEqual([])

      const before = await deliveries(db)
      const replay = await run("replay", "stock-levels", "--stall-timeout", "1")
      expect(replay.code, replay.stderr).toBe(0)
      expect(replay.stdout).toContain(
        "replay of stock-levels from the start of the log: 2 of 2 checkpoint(s) moved back; 9 event(s) to deliver"
      )
      expect(replay.stdout).toContain(
        "no relay runs stock-levels now: the replay proceeds when one starts (9 event(s) to deliver)"
      )

      app = await startApp(db, "relay-b")
      await eventually(async () => {
        const after = await deliveries(db)
        expect(positions.map((p) => after.get(p))).toEqual(positions.map((p) => (before.get(p) ?? 0) + 1))
      })
      await eventually(async () =>
        expect(parsed(await run("status", "--json", "--subscription", "stock-levels")).subscriptions[0].lag).toBe(0)
      )
    })
  })
