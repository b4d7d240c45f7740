import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Layer } from "effect"
import { EventStore } from "effect-ddd"
import { SqlEventStore } from "effect-ddd/sql"
import { suite } from "./contracts/EventStoreContract.js"
import { pgClient } from "./support/pg.js"

suite("PostgreSQL", SqlEventStore.layer().pipe(Layer.provide(pgClient("contract", { maxConnections: 80 }))))

describe("PostgreSQL specifics", () => {
  it.live("a transaction whose statement failed is never reported as committed", () =>
    Effect.gen(function*() {
      const store = yield* EventStore.EventStore
      const sql = yield* SqlClient.SqlClient
      yield* sql`CREATE TABLE aborted_probe (id INT PRIMARY KEY)`
      // the failed statement is caught, but PostgreSQL has aborted the transaction: its COMMIT
      // answers ROLLBACK, which must surface as an error, and nothing must be written
      const exit = yield* Effect.exit(store.withTransaction(Effect.gen(function*() {
        yield* sql`INSERT INTO aborted_probe VALUES (1)`
        yield* Effect.ignore(sql`SELECT * FROM no_such_table`)
      })))
      expect(Exit.isFailure(exit)).toBe(true)
      expect(Exit.isFailure(exit) && String(exit.cause)).toContain("rolled the transaction back")
      expect(yield* sql`SELECT id FROM aborted_probe`).toEqual([])
    }).pipe(Effect.provide(SqlEventStore.layer().pipe(Layer.provideMerge(pgClient("aborted"))))))
})
