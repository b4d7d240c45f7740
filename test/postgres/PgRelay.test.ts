import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { CommandHandler, EventStore, Relay, Subscription } from "effect-ddd"
import { SqlEventStore } from "effect-ddd/sql"
import { Inventory } from "../../examples/http-server/Domain/Inventory.js"
import { Sku } from "../../examples/http-server/Domain/Order.js"
import { eventually, suite } from "../contracts/RelayContract.js"
import { olderTransaction, pgClient } from "../support/pg.js"

suite("PostgreSQL", SqlEventStore.layer().pipe(Layer.provide(pgClient("relay", { maxConnections: 20 }))))

describe("Relay on PostgreSQL", () => {
  it.live(
    "an event held back by an older transaction is delivered as soon as that ends, not at the next poll",
    () =>
      Effect.gen(function*() {
        const delivered: Array<number> = []
        const restocks = Subscription.make({
          name: "held-back-restocks",
          events: [Subscription.on(Inventory, "StockRestocked")],
          partitions: 1,
          handle: (event) => Effect.sync(() => delivered.push(event.quantity))
        })
        yield* Effect.scoped(Effect.gen(function*() {
          // the next poll is beyond the wait below: only wake-ups and the held-back re-reads deliver
          yield* Layer.build(Relay.layer({ subscriptions: [restocks], pollInterval: "10 minutes" }))
          const older = yield* olderTransaction
          // committed and signalled, but not readable until the older transaction ends: a read of
          // the log (this database's) sees nothing, and says so
          yield* CommandHandler.execute(Inventory, Sku.make("held-back"), "restock", { quantity: 7 })
          const page = yield* Effect.flatMap(EventStore.EventStore, (store) => store.readPage(EventStore.logStart, 10))
          expect([page.events, page.heldBack]).toEqual([[], true])
          expect(delivered).toEqual([])
          yield* older.end
          yield* eventually(Effect.try(() => expect(delivered).toEqual([7])), "30 seconds")
        }))
      }).pipe(
        Effect.provide(
          CommandHandler.layer().pipe(
            Layer.provideMerge(SqlEventStore.layer()),
            Layer.provideMerge(pgClient("held-back-relay"))
          )
        )
      ),
    60_000
  )
})
