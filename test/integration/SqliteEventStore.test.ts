import { SqlClient } from "@effect/sql"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { describe, expect, it } from "@effect/vitest"
import Database from "better-sqlite3"
import { Deferred, Effect, Exit, Fiber, FiberStatus, Layer, Option } from "effect"
import { type DomainEvent, EventStore } from "effect-ddd"
import { Migrations, SqlEventStore } from "effect-ddd/sql"
import { randomUUID } from "node:crypto"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { suite } from "../contracts/EventStoreContract.js"

const tempFile = () => join(mkdtempSync(join(tmpdir(), "effect-ddd-")), "test.db")

const Sqlite = SqliteClient.layer({ filename: tempFile() })

suite("SQLite", SqlEventStore.layer().pipe(Layer.provide(Sqlite)))

describe("SQLite specifics", () => {
  it.effect("the file is in WAL mode and every migration ran, in the library's own table", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* Migrations.run
      const [mode] = yield* sql<{ journal_mode: string }>`PRAGMA journal_mode`
      expect(mode!.journal_mode).toBe("wal")
      const applied = yield* sql<{ name: string }>`SELECT name FROM effect_ddd_migrations ORDER BY migration_id`
      expect(applied.map((r) => r.name)).toEqual(Migrations.names.map((n) => n.replace(/^\d+_/, "")))
      expect(Migrations.names.length).toBe(9)
      const hostTable = yield* sql`SELECT name FROM sqlite_master WHERE name = 'effect_sql_migrations'`
      expect(hostTable).toEqual([])
      // safe to run again
      expect(yield* Migrations.run).toEqual([])
    }).pipe(Effect.provide(SqliteClient.layer({ filename: tempFile() }))))

  // the store keeps the one connection reserved across its own back-to-back work
  const storeAndClient = SqlEventStore.layer().pipe(Layer.provideMerge(SqliteClient.layer({ filename: tempFile() })))
  const event = (aggregateId: string): DomainEvent.Unsaved => ({
    eventId: randomUUID(),
    aggregateType: "T",
    aggregateId,
    version: 1,
    eventType: "Tested",
    schemaVersion: 1,
    payload: {},
    occurredAt: 0,
    metadata: {}
  })

  it.effect(
    "another user of the client waits for the store's transaction and is never part of it",
    () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const store = yield* EventStore.EventStore
        yield* sql`CREATE TABLE IF NOT EXISTS host_notes (note TEXT NOT NULL)`
        const order: Array<string> = []
        const open = yield* Deferred.make<void>()
        const id = randomUUID()
        const transaction = yield* Effect.fork(Effect.exit(store.withTransaction(Effect.gen(function*() {
          yield* store.append({ aggregateType: "T", aggregateId: id, expectedVersion: 0, events: [event(id)] })
          yield* Deferred.succeed(open, undefined)
          // open a moment while the statement below waits for it (were it not waiting, it would
          // run now: the order would show it)
          yield* Effect.sleep("100 millis")
          order.push("transaction")
          return yield* Effect.fail("rolled back" as const)
        }))))
        yield* Deferred.await(open)
        yield* sql`INSERT INTO host_notes (note) VALUES (${id})`
        order.push("host statement")
        yield* Fiber.join(transaction)
        expect(order).toEqual(["transaction", "host statement"])
        expect(yield* sql`SELECT note FROM host_notes WHERE note = ${id}`).toEqual([{ note: id }])
        expect(yield* store.readStream("T", id, 0)).toEqual([])
      }).pipe(Effect.provide(storeAndClient)),
    { timeout: 60_000 }
  )

  it.effect(
    "a transaction holds the write lock from its start: another process's commit cannot make its snapshot stale",
    () => {
      const file = tempFile()
      return Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        // another process's writer, which gives up at once when the database is locked
        const other = new Database(file, { timeout: 0 })
        other.exec("CREATE TABLE IF NOT EXISTS other_writes (note TEXT NOT NULL)")
        const id = randomUUID()
        const outcome = yield* Effect.exit(store.withTransaction(Effect.gen(function*() {
          // the read fixes the transaction's snapshot...
          expect(yield* store.readStream("T", id, 0)).toEqual([])
          // ...the other writer tries to commit before this transaction writes...
          const refused = yield* Effect.try(() => other.prepare("INSERT INTO other_writes VALUES ('x')").run()).pipe(
            Effect.match({
              onFailure: (error) => String((error as { error?: unknown }).error),
              onSuccess: () => "committed"
            })
          )
          // ...then this transaction writes
          yield* store.append({ aggregateType: "T", aggregateId: id, expectedVersion: 0, events: [event(id)] })
          return refused
        })))
        other.close()
        // with a deferred BEGIN the other commit would go through and this append fail with
        // SQLITE_BUSY_SNAPSHOT; the lock taken at BEGIN makes the other writer wait (here: refused)
        expect(outcome).toEqual(Exit.succeed(expect.stringContaining("database is locked")))
        expect((yield* store.readStream("T", id, 0)).map((e) => e.eventId)).toHaveLength(1)
      }).pipe(Effect.provide(SqlEventStore.layer().pipe(Layer.provide(SqliteClient.layer({ filename: file })))))
    },
    { timeout: 60_000 }
  )

  it.effect("the connection is free for other users as soon as the store is idle", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const store = yield* EventStore.EventStore
      for (let i = 0; i < 100; i++) {
        const id = randomUUID()
        yield* store.append({ aggregateType: "T", aggregateId: id, expectedVersion: 0, events: [event(id)] })
      }
      // a host transaction (it reserves the connection too) gets it without waiting for more store work
      // (the timeout only ends a hang)
      const rows = yield* sql.withTransaction(sql<{ n: number }>`SELECT count(*) AS n FROM effect_ddd_events`).pipe(
        Effect.timeoutFail({ duration: "30 seconds", onTimeout: () => "the connection was never released" })
      )
      expect(rows[0]!.n).toBeGreaterThanOrEqual(100)
    }).pipe(Effect.provide(storeAndClient)), { timeout: 60_000 })

  it.effect(
    "a store call interrupted while it waits for the connection does not block the next ones",
    () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const open = yield* Deferred.make<void>()
        const release = yield* Deferred.make<void>()
        const transaction = yield* Effect.fork(
          store.withTransaction(Effect.zipRight(Deferred.succeed(open, undefined), Deferred.await(release)))
        )
        yield* Deferred.await(open)
        // a read that waits for the connection the transaction holds, interrupted while it waits
        const waiting = yield* Effect.fork(store.readState("T", "nobody"))
        while (!FiberStatus.isSuspended(yield* Fiber.status(waiting))) yield* Effect.yieldNow()
        yield* Fiber.interrupt(waiting)
        yield* Deferred.succeed(release, undefined)
        yield* Fiber.join(transaction)
        // (the timeout only ends a hang)
        const state = yield* store.readState("T", "nobody").pipe(
          Effect.timeoutFail({ duration: "30 seconds", onTimeout: () => "blocked" })
        )
        expect(Option.isNone(state)).toBe(true)
      }).pipe(Effect.provide(storeAndClient)),
    { timeout: 60_000 }
  )
})
