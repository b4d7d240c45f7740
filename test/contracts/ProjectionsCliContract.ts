/**
 * `effect-ddd projections list | status | rebuild` against a real database, run as a child
 * process the way a user runs it, while the application's relay builds a projection's versions in
 * this process: versions, progress and lag while v2 builds, a rebuild request carried out by the
 * relay, and a rebuild refused once the events it reads were pruned. Run on SQLite and PostgreSQL.
 */
import type { SqlClient as Sql } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Option, Redacted, Ref, Schedule } from "effect"
import { CommandHandler, ProjectionVersions, Pruning, Relay, type Retention, Subscription } from "effect-ddd"
import { SqlEventStore } from "effect-ddd/sql"
import { Inventory } from "../../examples/http-server/Domain/Inventory.js"
import { Sku } from "../../examples/http-server/Domain/Order.js"
import { cli, parsed } from "../support/cli.js"
import { sqlReadModel } from "../support/sqlReadModel.js"
import type { Stores } from "../support/stores.js"
import type { Database } from "./CliContract.js"
import type { ReadModel } from "./ProjectionContract.js"

const DAY = 24 * 60 * 60 * 1000

/** Inventory's delivered events may go after a second. */
const retention: Retention.Policy = {
  aggregates: [{ aggregateType: "Inventory", events: "delivered", keepMillis: 1_000 }],
  processManagers: [],
  idempotencyMillis: 7 * DAY,
  inboxMillis: 7 * DAY
}

const clientOf = (db: Database): Layer.Layer<Sql.SqlClient, unknown> =>
  db.dialect === "pg"
    ? PgClient.layer({ url: Redacted.make(db.target), maxConnections: 4 })
    : SqliteClient.layer({ filename: db.target })

type Env = CommandHandler.CommandHandler | Stores | Pruning.Pruning | Sql.SqlClient

/** Run an effect in this process on the database (what the application does). */
const onDatabase = <A, E>(db: Database, effect: Effect.Effect<A, E, Env>) =>
  Effect.runPromise(
    Effect.scoped(effect).pipe(Effect.provide(
      CommandHandler.layer().pipe(
        Layer.provideMerge(SqlEventStore.layer({ retention })),
        Layer.provideMerge(clientOf(db))
      )
    ))
  )

/** Poll until `check` passes; the bound only ends a hang. */
const eventually = <A, E, R>(check: Effect.Effect<A, E, R>) =>
  Effect.retry(check, Schedule.spaced("20 millis").pipe(Schedule.upTo("60 seconds")))

/** Stock levels in `stock_v<version>`; deliveries to v2 fail (retried) while `held` is set. */
const stockLevels = (model: ReadModel, version: number, held: Ref.Ref<boolean>) =>
  Subscription.projection({
    name: "stock-levels",
    version,
    partitions: 2,
    retry: Schedule.spaced("20 millis"),
    events: [Subscription.on(Inventory, "StockRestocked")],
    init: (target) => model.create(`stock_v${target.version}`),
    drop: (target) => model.drop(`stock_v${target.version}`),
    handle: (event, envelope, target) =>
      Effect.zipRight(
        Effect.flatMap(Ref.get(held), (h) => h && target.version === 2 ? Effect.fail("held") : Effect.void),
        model.add(`stock_v${target.version}`, envelope.aggregateId, event.quantity)
      )
  })

/** Run `use` while a relay delivers `projection`. */
const withRelay = <A, E, R>(projection: Subscription.Any, use: Effect.Effect<A, E, R>) =>
  Effect.scoped(
    Effect.zipRight(Layer.build(Relay.layer({ subscriptions: [projection], pollInterval: "20 millis" })), use)
  )

const statuses = Effect.flatMap(
  ProjectionVersions.ProjectionVersions,
  (v) => Effect.map(v.list("stock-levels"), (all) => all.map((r) => `v${r.version} ${r.status}`).join(", "))
)

const statusIs = (expected: string) =>
  eventually(Effect.flatMap(statuses, (s) => s === expected ? Effect.void : Effect.fail(s)))

export const suite = (name: string, database: () => Promise<Database>) =>
  describe(`projections CLI on ${name}`, { timeout: 180_000 }, () => {
    it("lists versions, follows a build's progress and lag, requests a rebuild, refuses one on a pruned log", async () => {
      const db = await database()
      const run = (...args: Array<string>) => cli([...args, "--database", db.target])
      expect((await run("migrate")).code).toBe(0)
      expect(parsed(await run("projections", "list", "--json"))).toEqual([])

      // v1 serves 6 restocks; v2 is deployed and held back mid-build
      const held = Ref.unsafeMake(false)
      await onDatabase(
        db,
        Effect.gen(function*() {
          const model = yield* sqlReadModel
          for (const sku of ["a", "b", "c", "d", "e", "f"]) {
            yield* CommandHandler.execute(Inventory, Sku.make(sku), "restock", { quantity: 1 })
          }
          yield* withRelay(
            stockLevels(model, 1, held),
            eventually(
              Effect.flatMap(model.rows("stock_v1"), (rows) =>
                Option.getOrElse(
                    Option.map(rows, (r) => r.length),
                    () => 0
                  ) === 6
                  ? Effect.void
                  : Effect.fail("not yet"))
            )
          )
          yield* Ref.set(held, true)
          const building = yield* Effect.fork(withRelay(stockLevels(model, 2, held), Effect.never))
          yield* statusIs("v1 serving, v2 building")

          const listed = parsed(yield* Effect.promise(() => run("projections", "list", "--json")))
          expect(listed).toMatchObject([{ name: "stock-levels", serving: 1, building: 2 }])
          const table = yield* Effect.promise(() => run("projections", "list"))
          expect(table.stdout).toMatch(/stock-levels\s+v1\s+v2\s+v1 serving, v2 building/)

          const status = parsed(yield* Effect.promise(() => run("projections", "status", "stock-levels", "--json")))
          expect(status.versions).toMatchObject([
            { version: 1, status: "serving", subscription: "stock-levels", events: 6, delivered: 6, lag: 0 },
            { version: 2, status: "building", subscription: "stock-levels@v2", events: 6, delivered: 0, lag: 6 }
          ])
          const statusTable = yield* Effect.promise(() => run("projections", "status"))
          expect(statusTable.stdout).toMatch(/stock-levels\s+v2\s+building\s+0\/6 \(0%\)\s+6/)

          // a rebuild of the building version: recorded, carried out by the relay
          const requested = yield* Effect.promise(() => run("projections", "rebuild", "stock-levels", "--json"))
          expect(parsed(requested)).toEqual({ name: "stock-levels", version: 2, status: "building" })
          yield* eventually(Effect.flatMap(
            ProjectionVersions.ProjectionVersions,
            (v) =>
              Effect.flatMap(
                v.list("stock-levels"),
                (all) => all[1]!.rebuildRequested ? Effect.fail("not yet") : Effect.void
              )
          ))
          yield* Ref.set(held, false)
          yield* statusIs("v1 retired, v2 serving")
          yield* Fiber.interrupt(building)
          const rows = Option.getOrThrow(yield* model.rows("stock_v2"))
          expect(rows.map((r) => [r.sku, r.applied])).toEqual([["a", 1], ["b", 1], ["c", 1], ["d", 1], ["e", 1], [
            "f",
            1
          ]])
          expect(yield* model.rows("stock_v1")).toEqual(Option.none())
        })
      )
      const after = parsed(await run("projections", "status", "--json"))
      expect(after.versions).toMatchObject([{ version: 2, status: "serving", events: 6, delivered: 6, lag: 0 }])
      expect(parsed(await run("projections", "list", "--json"))[0].versions.map((v: any) => v.rebuildRequested))
        .toEqual([false, false])

      // once the events it reads were pruned, a rebuild from the start is refused
      await onDatabase(
        db,
        Effect.flatMap(Pruning.Pruning, (pruning) => pruning.pruneBatch("events", Date.now() + DAY, 100))
      )
      const refused = await run("projections", "rebuild", "stock-levels")
      expect(refused.code).not.toBe(0)
      expect(refused.stderr).toContain("were pruned")
      expect(refused.stderr).toContain("--from-earliest-kept")
      const forced = await run("projections", "rebuild", "stock-levels", "--from-earliest-kept", "--json")
      expect(parsed(forced)).toEqual({ name: "stock-levels", version: 2, status: "serving" })

      const missing = await run("projections", "status", "no-such-projection")
      expect(missing.code).not.toBe(0)
      expect(missing.stderr).toContain("no projection no-such-projection")
    })
  })
