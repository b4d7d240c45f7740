import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Layer, Option } from "effect"
import { EventStore } from "effect-ddd"
import { PreparedStatements, SqlEventStore } from "effect-ddd/sql"
import * as Connections from "../../src/adapters/sql/internal/connections.js"
import { suite } from "../contracts/EventStoreContract.js"
import { olderTransaction, pgClient } from "../support/pg.js"

suite("PostgreSQL", SqlEventStore.layer().pipe(Layer.provide(pgClient("contract", { maxConnections: 80 }))), {
  concurrentTransactions: true
})

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

  /** Appends and reads through the store, then lists the prepared statements of its one connection. */
  const preparedOnTheConnection = Effect.gen(function*() {
    const store = yield* EventStore.EventStore
    const sql = yield* SqlClient.SqlClient
    for (let version = 1; version <= 3; version++) {
      yield* store.append({
        aggregateType: "Probe",
        aggregateId: "p-1",
        expectedVersion: version - 1,
        events: [{
          eventId: `probe-${version}`,
          aggregateType: "Probe",
          aggregateId: "p-1",
          version,
          eventType: "Probed",
          schemaVersion: 1,
          payload: { version },
          metadata: { correlationId: "probe" },
          occurredAt: 0
        }],
        state: { version, state: { version } }
      })
      expect(Option.map(yield* store.readState("Probe", "p-1"), (row) => row.version)).toEqual(Option.some(version))
    }
    // the transaction runs on the pool's only connection, the one the statements above ran on
    return yield* store.withTransaction(
      sql<{ name: string; statement: string }>`SELECT name, statement FROM pg_prepared_statements ORDER BY name`
    )
  })

  it.live("runs its statements as named prepared statements, parsed once per connection", () =>
    Effect.gen(function*() {
      const prepared = yield* preparedOnTheConnection
      const statements = prepared.filter((row) => row.name.startsWith("effect_ddd_")).map((row) => row.statement)
      expect(statements.some((text) => text.includes("INSERT INTO effect_ddd_events"))).toBe(true)
      expect(statements.some((text) => text.startsWith("SELECT version, state FROM effect_ddd_states"))).toBe(true)
      expect(statements).toContain("BEGIN")
      // each text once: three appends and reads did not prepare them again
      expect(new Set(statements).size).toBe(statements.length)
    }).pipe(
      Effect.provide(SqlEventStore.layer().pipe(Layer.provideMerge(pgClient("prepared", { maxConnections: 1 }))))
    ))

  it.live("sends the statements' text when prepared statements are turned off", () =>
    Effect.gen(function*() {
      const prepared = yield* preparedOnTheConnection
      expect(prepared.filter((row) => row.name.startsWith("effect_ddd_"))).toEqual([])
    }).pipe(
      Effect.provide(
        SqlEventStore.layer().pipe(
          Layer.provideMerge(pgClient("unprepared", { maxConnections: 1 })),
          Layer.provide(Layer.succeed(PreparedStatements.Enabled, false))
        )
      )
    ))

  it.live("a session holds one connection for its statements while others use the rest of the pool", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const onConnection = Connections.reserved(sql)
      const backend = Effect.map(
        Connections.execute<{ pid: number }>(onConnection, "SELECT pg_backend_pid() AS pid", []),
        (rows) => rows[0]!.pid
      )
      // between the session's statements another fiber takes a connection and holds it: it must not
      // get the session's, and the session's next statements must still run on its own
      const firstDone = yield* Deferred.make<void>()
      const outsideHolds = yield* Deferred.make<number>()
      const sessionDone = yield* Deferred.make<void>()
      const session = Connections.withSession(
        onConnection,
        Effect.gen(function*() {
          const first = yield* backend
          yield* Deferred.succeed(firstDone, undefined)
          yield* Deferred.await(outsideHolds)
          const rest = [yield* backend, yield* backend]
          return [first, ...rest]
        })
      ).pipe(Effect.ensuring(Deferred.succeed(sessionDone, undefined)))
      const outside = Effect.zipRight(
        Deferred.await(firstDone),
        sql.withTransaction(Effect.gen(function*() {
          const [row] = yield* sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`
          yield* Deferred.succeed(outsideHolds, row!.pid)
          yield* Deferred.await(sessionDone)
          return row!.pid
        }))
      )
      const [inSession, outsidePid] = yield* Effect.all([session, outside], { concurrency: 2 })
      expect(inSession).toHaveLength(3)
      expect(new Set(inSession).size).toBe(1)
      expect(outsidePid).not.toBe(inSession[0])
    }).pipe(Effect.provide(pgClient("session", { maxConnections: 2 }))))

  it.live("readPage tells when committed events wait above the horizon of an older transaction", () =>
    Effect.gen(function*() {
      const store = yield* EventStore.EventStore
      const older = yield* olderTransaction
      expect((yield* store.readPage(EventStore.logStart, 10)).heldBack).toBe(false)
      yield* store.append({
        aggregateType: "Probe",
        aggregateId: "held",
        expectedVersion: 0,
        events: [{
          eventId: "held-1",
          aggregateType: "Probe",
          aggregateId: "held",
          version: 1,
          eventType: "Probed",
          schemaVersion: 1,
          payload: {},
          metadata: { correlationId: "held" },
          occurredAt: 0
        }]
      })
      const held = yield* store.readPage(EventStore.logStart, 10)
      expect(held.events).toEqual([])
      expect(held.heldBack).toBe(true)
      yield* older.end
      const page = yield* store.readPage(EventStore.logStart, 10)
      expect(page.events.map((e) => e.eventId)).toEqual(["held-1"])
      expect(page.heldBack).toBe(false)
    }).pipe(Effect.provide(SqlEventStore.layer().pipe(Layer.provideMerge(pgClient("held-back"))))))
})
