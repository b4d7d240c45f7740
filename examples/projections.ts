/**
 * A projection that evolves: stock levels, first as totals (version 1), then with the number of
 * restocks (version 2), rebuilt side by side while version 1 serves. Run it with
 * `npx tsx examples/projections.ts`.
 */
import { SqlClient } from "@effect/sql"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { Effect, Layer, Option, Schedule } from "effect"
import { CommandHandler, ProjectionVersions, Relay, Subscription } from "effect-ddd"
import { SqlEventStore } from "effect-ddd/sql"
import { Inventory } from "./http-server/Domain/Inventory.js"
import { Sku } from "./http-server/Domain/Order.js"

// #region projection
// each version writes its own table: stock_levels_v1, stock_levels_v2
const table = (target: Subscription.Target) => `stock_levels_v${target.version}`

export const stockLevels = (version: number) =>
  Subscription.projection({
    name: "stock-levels",
    version,
    events: [Subscription.on(Inventory, "StockRestocked")],
    // once, before the version's first delivery (in the transaction that records the version)
    init: (target) =>
      Effect.flatMap(SqlClient.SqlClient, (sql) =>
        sql`CREATE TABLE IF NOT EXISTS ${sql(table(target))} (
          sku TEXT PRIMARY KEY, available INTEGER NOT NULL, restocks INTEGER NOT NULL)`),
    // once reads have switched to a newer version and nothing delivers this one
    drop: (target) => Effect.flatMap(SqlClient.SqlClient, (sql) => sql`DROP TABLE IF EXISTS ${sql(table(target))}`),
    // in the delivery's transaction, with the checkpoint of the version it builds
    handle: (event, envelope, target) =>
      Effect.flatMap(SqlClient.SqlClient, (sql) => {
        const restocks = target.version >= 2 ? 1 : 0 // version 2 counts restocks
        return sql`INSERT INTO ${sql(table(target))} (sku, available, restocks)
          VALUES (${envelope.aggregateId}, ${event.quantity}, ${restocks})
          ON CONFLICT (sku) DO UPDATE SET available = ${sql(table(target))}.available + ${event.quantity},
            restocks = ${sql(table(target))}.restocks + ${restocks}`
      })
  })
// #endregion projection

// #region serving
// reads go to the table of the version serving
export const stockOf = (sku: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const version = yield* ProjectionVersions.serving("stock-levels")
    if (Option.isNone(version)) return Option.none()
    const rows = yield* sql<{ available: number; restocks: number }>`
      SELECT available, restocks FROM ${sql(table({ name: "stock-levels", version: version.value }))}
      WHERE sku = ${sku}`
    return Option.map(Option.fromNullable(rows[0]), (row) => ({ version: version.value, ...row }))
  })
// #endregion serving

const Stores = CommandHandler.layer().pipe(
  Layer.provideMerge(SqlEventStore.layer()),
  Layer.provideMerge(SqliteClient.layer({ filename: ":memory:" }))
)

/** Run `use` while a relay delivers one version of the projection (one deployment of the code). */
const deployed = <A, E, R>(version: number, use: Effect.Effect<A, E, R>) =>
  Effect.scoped(Effect.zipRight(Layer.build(Relay.layer({ subscriptions: [stockLevels(version)] })), use))

/** Wait until the apple's read model says what `done` expects. */
const until = (done: (stock: { version: number; available: number; restocks: number }) => boolean) =>
  stockOf("apple").pipe(
    Effect.filterOrFail((stock) => Option.isSome(stock) && done(stock.value), () => "not yet"),
    Effect.retry(Schedule.spaced("10 millis")),
    Effect.map(Option.getOrThrow)
  )

const program = Effect.gen(function*() {
  const apple = Sku.make("apple")
  for (const quantity of [3, 4]) yield* CommandHandler.execute(Inventory, apple, "restock", { quantity })
  const v1 = yield* deployed(1, until((s) => s.available === 7))
  yield* Effect.log(`v${v1.version}: ${v1.available} available`)
  // version 2 builds from the start of the log, then reads switch to it and version 1 is dropped
  const v2 = yield* deployed(2, until((s) => s.version === 2 && s.available === 7))
  yield* Effect.log(`v${v2.version}: ${v2.available} available after ${v2.restocks} restocks`)
})

Effect.runPromise(program.pipe(Effect.provide(Stores)))
