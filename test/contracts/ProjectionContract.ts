/**
 * Projections that evolve, on every store: a new version builds side by side while the old one
 * serves, reads switch when it has caught up, the old version is dropped; a restart mid-build
 * resumes; a build from the start of a pruned log is refused unless the projection opts in.
 * `suite("memory", (retention) => MemoryEventStore.layerWith({ retention }), memoryReadModel)`,
 * each test on a new, empty database.
 */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Layer, Option, Ref, Schedule } from "effect"
import {
  CommandHandler,
  EventStore,
  Health,
  ProjectionVersions,
  Pruning,
  Relay,
  type Retention,
  Subscription
} from "effect-ddd"
import { Inventory } from "../../examples/http-server/Domain/Inventory.js"
import { Sku } from "../../examples/http-server/Domain/Order.js"
import { delivery, type Stores } from "../support/stores.js"
import { eventually } from "./RelayContract.js"

/** A row of the stock-level read model. */
export interface Row {
  readonly sku: string
  readonly total: number
  /** How many events were applied to it: each exactly once. */
  readonly applied: number
}

/** Tables of a read model, in the store's database (their writes commit with the checkpoint). */
export interface ReadModel {
  readonly create: (table: string) => Effect.Effect<void, unknown>
  readonly drop: (table: string) => Effect.Effect<void, unknown>
  readonly add: (table: string, sku: string, quantity: number) => Effect.Effect<void, unknown>
  /** The rows of a table, by sku; none when the table does not exist. */
  readonly rows: (table: string) => Effect.Effect<Option.Option<ReadonlyArray<Row>>, unknown>
}

/** A read model in memory (for the memory stores; its writes are not transactional). */
export const memoryReadModel: Effect.Effect<ReadModel> = Effect.map(
  Ref.make(new Map<string, Map<string, Row>>()),
  (tables) => ({
    create: (table) => Ref.update(tables, (t) => t.has(table) ? t : new Map(t).set(table, new Map())),
    drop: (table) =>
      Ref.update(tables, (t) => {
        const next = new Map(t)
        next.delete(table)
        return next
      }),
    add: (table, sku, quantity) =>
      Effect.flatMap(Ref.get(tables), (t) => {
        const rows = t.get(table)
        if (rows === undefined) return Effect.fail(`no table ${table}`)
        const row = rows.get(sku)
        rows.set(sku, { sku, total: (row?.total ?? 0) + quantity, applied: (row?.applied ?? 0) + 1 })
        return Effect.void
      }),
    rows: (table) =>
      Effect.map(Ref.get(tables), (t) =>
        Option.map(
          Option.fromNullable(t.get(table)),
          (rows) => Array.from(rows.values()).sort((a, b) => a.sku < b.sku ? -1 : 1)
        ))
  })
)

const DAY = 24 * 60 * 60 * 1000

/** Inventory is state-stored: its delivered events may go after a second. */
const retention: Retention.Policy = {
  aggregates: [{ aggregateType: "Inventory", events: "delivered", keepMillis: 1_000 }],
  processManagers: [],
  idempotencyMillis: 7 * DAY,
  inboxMillis: 7 * DAY
}

export const suite = <R>(
  name: string,
  stores: (retention: Retention.Policy) => Layer.Layer<Stores | Pruning.Pruning | R, unknown>,
  makeReadModel: Effect.Effect<ReadModel, never, R>
) =>
  describe(`Projections: ${name}`, () => {
    /**
     * Stock levels, version `version`, in table `stock_v<version>`. A delivery fails while `gate`
     * fails (retried every 20 ms, never dead-lettered), so a test holds a build back.
     */
    const stockLevels = (
      model: ReadModel,
      calls: Ref.Ref<ReadonlyArray<string>>,
      version: number,
      options: { readonly gate?: (sku: string) => Effect.Effect<void, string>; readonly fromEarliestKept?: boolean } =
        {}
    ) =>
      Subscription.projection({
        name: "stock-levels",
        version,
        partitions: 1,
        retry: Schedule.spaced("20 millis"),
        events: [Subscription.on(Inventory, "StockRestocked")],
        ...(options.fromEarliestKept === undefined ? {} : { fromEarliestKept: options.fromEarliestKept }),
        init: (target) =>
          Effect.zipRight(Ref.update(calls, (c) => [...c, `init ${target.version}`]), model.create(table(target))),
        drop: (target) =>
          Effect.zipRight(Ref.update(calls, (c) => [...c, `drop ${target.version}`]), model.drop(table(target))),
        handle: (event, envelope, target) =>
          Effect.zipRight(
            options.gate?.(envelope.aggregateId) ?? Effect.void,
            model.add(table(target), envelope.aggregateId, event.quantity)
          )
      })
    const table = (target: Subscription.Target) => `stock_v${target.version}`

    const closedUntil = (open: Deferred.Deferred<void>) =>
      Effect.flatMap(Deferred.isDone(open), (done) => done ? Effect.void : Effect.fail("held"))

    /** Run `use` while a relay delivers a projection. */
    const withRelay = <A, E, R2>(projection: Subscription.Any, use: Effect.Effect<A, E, R2>) =>
      Effect.scoped(
        Effect.zipRight(
          Layer.build(Relay.layer({ subscriptions: [projection], pollInterval: "20 millis", batchSize: 1 })),
          use
        )
      )

    const restock = (sku: string, quantity: number) =>
      CommandHandler.execute(Inventory, Sku.make(sku), "restock", { quantity })

    const totals = (model: ReadModel, version: number, expected: number) =>
      eventually(
        Effect.flatMap(
          model.rows(`stock_v${version}`),
          (rows) =>
            Option.isSome(rows) && rows.value.length === expected ? Effect.succeed(rows.value) : Effect.fail("not yet")
        )
      )

    const versions = Effect.flatMap(
      ProjectionVersions.ProjectionVersions,
      (v) => Effect.map(v.list("stock-levels"), (all) => all.map((r) => [r.version, r.status] as const))
    )

    const statusIs = (expected: ReadonlyArray<readonly [number, ProjectionVersions.Status]>) =>
      eventually(
        Effect.flatMap(
          versions,
          (all) => JSON.stringify(all) === JSON.stringify(expected) ? Effect.void : Effect.fail(all)
        )
      )

    const provide = <A, E>(self: Effect.Effect<A, E, Stores | Pruning.Pruning | R | CommandHandler.CommandHandler>) =>
      Effect.provide(self, CommandHandler.layer().pipe(Layer.provideMerge(stores(retention))))

    it.live("a new version builds beside the serving one, reads switch when it caught up, the old one is dropped", () =>
      provide(Effect.gen(function*() {
        const model = yield* makeReadModel
        const calls = yield* Ref.make<ReadonlyArray<string>>([])
        const skus = ["a", "b", "c", "d"]
        for (const [i, sku] of skus.entries()) {
          yield* restock(sku, i + 1)
        }
        const v1 = stockLevels(model, calls, 1)
        const open = yield* Deferred.make<void>()
        const v2 = stockLevels(model, calls, 2, { gate: () => closedUntil(open) })
        // v1 runs (the old deployment)
        yield* withRelay(
          v1,
          Effect.gen(function*() {
            yield* totals(model, 1, 4)
            expect(yield* ProjectionVersions.serving("stock-levels")).toEqual(Option.some(1))
            // v2 is deployed beside it; it builds while v1 keeps serving and following the log
            yield* withRelay(
              v2,
              Effect.gen(function*() {
                yield* statusIs([[1, "serving"], [2, "building"]])
                yield* restock("e", 5)
                const v1Rows = yield* totals(model, 1, 5)
                expect(v1Rows.find((r) => r.sku === "e")).toEqual({ sku: "e", total: 5, applied: 1 })
                expect(yield* ProjectionVersions.serving("stock-levels")).toEqual(Option.some(1))
                expect(yield* model.rows("stock_v2")).toEqual(Option.some([]))
                // v2 catches up: reads switch, v1 is dropped once nothing delivers it
                yield* Deferred.succeed(open, undefined)
                yield* statusIs([[1, "retired"], [2, "serving"]])
                expect(yield* ProjectionVersions.serving("stock-levels")).toEqual(Option.some(2))
                expect(yield* model.rows("stock_v1")).toEqual(Option.none())
                // forgotten by the registry: v1's stale checkpoints no longer hold pruning back
                const registered = yield* Effect.flatMap(delivery, ({ registry }) => registry.list)
                expect(registered.map((s) => s.name)).toEqual(["stock-levels@v2"])
                const v2Rows = yield* totals(model, 2, 5)
                expect(v2Rows.map((r) => [r.sku, r.total, r.applied])).toEqual([
                  ["a", 1, 1],
                  ["b", 2, 1],
                  ["c", 3, 1],
                  ["d", 4, 1],
                  ["e", 5, 1]
                ])
                // the new version goes on following the log
                yield* restock("a", 10)
                yield* eventually(
                  Effect.flatMap(
                    model.rows("stock_v2"),
                    (rows) => Option.getOrThrow(rows)[0]!.total === 11 ? Effect.void : Effect.fail("not yet")
                  )
                )
              })
            )
          })
        )
        expect(yield* Ref.get(calls)).toEqual(["init 1", "init 2", "drop 1"])
        const checkpoint = yield* Effect.flatMap(delivery, ({ checkpoints }) => checkpoints.get("stock-levels@v2", 0))
        expect(checkpoint.position).toBeGreaterThan(0)
      })))

    it.live("a restart mid-build resumes from the new version's checkpoint: no second init, nothing applied twice", () =>
      provide(Effect.gen(function*() {
        const model = yield* makeReadModel
        const calls = yield* Ref.make<ReadonlyArray<string>>([])
        const skus = ["a", "b", "c", "d", "e", "f"]
        for (const sku of skus) {
          yield* restock(sku, 1)
        }
        yield* withRelay(stockLevels(model, calls, 1), totals(model, 1, 6))
        // the first run of v2 delivers a, b and c, then stops while d waits
        const waiting = yield* Deferred.make<void>()
        const gated = stockLevels(model, calls, 2, {
          gate: (sku) =>
            sku < "d" ? Effect.void : Effect.zipRight(Deferred.succeed(waiting, undefined), Effect.fail("held"))
        })
        yield* withRelay(
          gated,
          Effect.zipRight(Deferred.await(waiting), totals(model, 2, 3))
        )
        yield* statusIs([[1, "serving"], [2, "building"]])
        // the second run continues after c
        yield* withRelay(stockLevels(model, calls, 2), statusIs([[1, "retired"], [2, "serving"]]))
        const rows = yield* totals(model, 2, 6)
        expect(rows.every((r) => r.total === 1 && r.applied === 1)).toBe(true)
        expect(yield* Ref.get(calls)).toEqual(["init 1", "init 2", "drop 1"])
      })))

    it.live("building from the start of a pruned log is refused unless the projection opts in to what is kept", () =>
      provide(Effect.gen(function*() {
        const model = yield* makeReadModel
        const calls = yield* Ref.make<ReadonlyArray<string>>([])
        const store = yield* EventStore.EventStore
        for (const sku of ["a", "b", "c"]) yield* restock(sku, 1)
        yield* withRelay(stockLevels(model, calls, 1), totals(model, 1, 3))
        // delivered, state-stored, older than a second: gone
        const pruning = yield* Pruning.Pruning
        const removed = yield* pruning.pruneBatch("events", Date.now() + DAY, 100)
        expect(removed).toBe(3)
        yield* restock("d", 1)
        expect((yield* store.backlog(EventStore.logStart)).count).toBe(1)

        // refused: v1 keeps serving (and following the log), v2 is not initialized
        const refused = yield* withRelay(
          stockLevels(model, calls, 2),
          Effect.gen(function*() {
            yield* statusIs([[1, "serving"], [2, "refused"]])
            yield* totals(model, 1, 4)
            return yield* Effect.flatMap(ProjectionVersions.ProjectionVersions, (v) => v.list("stock-levels"))
          })
        )
        expect(refused[1]!.detail).toContain("were pruned")
        expect(refused[1]!.detail).toContain("fromEarliestKept")
        // health says so
        const health = yield* Health.make({ subscriptions: [stockLevels(model, calls, 2)] })
        const judged = (yield* health.check).subscriptions[0]!
        expect(judged.status).not.toBe("healthy")
        expect(judged.reasons).toContain(`refused: ${refused[1]!.detail}`)
        expect(yield* Ref.get(calls)).toEqual(["init 1"])

        // opted in: v2 builds from the events kept, then serves
        yield* withRelay(
          stockLevels(model, calls, 2, { fromEarliestKept: true }),
          statusIs([[1, "retired"], [2, "serving"]])
        )
        expect((yield* totals(model, 2, 1)).map((r) => r.sku)).toEqual(["d"])
        expect(yield* Ref.get(calls)).toEqual(["init 1", "init 2", "drop 1"])
      })))

    it.live("a projection delivered before it had versions, given version 2: version 1 serves until 2 caught up", () =>
      provide(Effect.gen(function*() {
        const model = yield* makeReadModel
        const calls = yield* Ref.make<ReadonlyArray<string>>([])
        for (const sku of ["a", "b"]) yield* restock(sku, 1)
        // delivered as a plain subscription under the projection's name (no versions recorded)
        yield* model.create("stock_v1")
        const unversioned = Subscription.make({
          name: "stock-levels",
          partitions: 1,
          events: [Subscription.on(Inventory, "StockRestocked")],
          handle: (event, envelope) => model.add("stock_v1", envelope.aggregateId, event.quantity)
        })
        yield* withRelay(unversioned, totals(model, 1, 2))
        const open = yield* Deferred.make<void>()
        yield* withRelay(
          stockLevels(model, calls, 2, { gate: () => closedUntil(open) }),
          Effect.gen(function*() {
            yield* statusIs([[1, "serving"], [2, "building"]])
            expect(yield* ProjectionVersions.serving("stock-levels")).toEqual(Option.some(1))
            yield* Deferred.succeed(open, undefined)
            yield* statusIs([[1, "retired"], [2, "serving"]])
          })
        )
        expect((yield* totals(model, 2, 2)).every((r) => r.applied === 1)).toBe(true)
        expect(yield* Ref.get(calls)).toEqual(["init 2", "drop 1"])
      })))

    it.live("a requested rebuild drops and re-creates the building version and delivers it again from the start", () =>
      provide(Effect.gen(function*() {
        const model = yield* makeReadModel
        const calls = yield* Ref.make<ReadonlyArray<string>>([])
        for (const sku of ["a", "b"]) yield* restock(sku, 1)
        const v1 = stockLevels(model, calls, 1)
        yield* withRelay(v1, totals(model, 1, 2))
        const requested = Effect.flatMap(
          ProjectionVersions.ProjectionVersions,
          (v) => v.requestRebuild("stock-levels", 1, Date.now())
        )
        expect(yield* requested).toBe(true)
        yield* withRelay(
          v1,
          eventually(Effect.flatMap(Ref.get(calls), (c) => c.length === 3 ? Effect.succeed(c) : Effect.fail(c)))
        )
        expect(yield* Ref.get(calls)).toEqual(["init 1", "drop 1", "init 1"])
        yield* withRelay(v1, totals(model, 1, 2))
        const rows = yield* totals(model, 1, 2)
        expect(rows.every((r) => r.applied === 1)).toBe(true)
        yield* statusIs([[1, "serving"]])
      })))
  })
