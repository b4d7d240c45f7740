/**
 * How the SQL event store reports database failures, on SQLite and PostgreSQL: constraint
 * violations other than the version check, an unreachable or lost server, the mapping of driver
 * error codes, and a stored state row that no longer decodes.
 */
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { SqlError } from "@effect/sql/SqlError"
import { describe, expect, it, layer } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber, Layer, Option, Redacted, Schedule } from "effect"
import { CommandHandler, type DomainEvent, EventStore } from "effect-ddd"
import { SqlEventStore } from "effect-ddd/sql"
import { randomUUID } from "node:crypto"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import pg from "pg"
import { Inventory } from "../../examples/http-server/Domain/Inventory.js"
import { Sku } from "../../examples/http-server/Domain/Order.js"
import { freshDatabase } from "../support/database.js"
import { freePort } from "../support/freePort.js"
import { pgClient } from "../support/pg.js"

const tempFile = () => join(mkdtempSync(join(tmpdir(), "effect-ddd-errors-")), "errors.db")

const unsaved = (aggregateId: string, version: number, eventId: string = randomUUID()): DomainEvent.Unsaved => ({
  eventId,
  aggregateType: "T",
  aggregateId,
  version,
  eventType: "Tested",
  schemaVersion: 1,
  payload: { n: version },
  occurredAt: 1_700_000_000_000 + version,
  metadata: { correlationId: "c-1" }
})

/** The typed failure of an exit; fails the test on success or on a defect/interruption. */
const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  if (Exit.isSuccess(exit)) throw new Error(`expected a failure, got ${JSON.stringify(exit.value)}`)
  expect(Cause.defects(exit.cause).length).toBe(0)
  expect(Cause.isInterrupted(exit.cause)).toBe(false)
  const failure = Cause.failureOption(exit.cause)
  if (Option.isNone(failure)) throw new Error(`expected a typed failure, got ${Cause.pretty(exit.cause)}`)
  return failure.value
}

const dialectSuite = (name: string, client: Layer.Layer<SqlClient.SqlClient, unknown>) =>
  // excludeTestServices: the live clock (SQL needs real time)
  layer(
    CommandHandler.layer().pipe(Layer.provideMerge(SqlEventStore.layer()), Layer.provideMerge(client)),
    { timeout: 60_000, excludeTestServices: true }
  )(`SQL errors: ${name}`, (it) => {
    it.effect("a duplicate event id is a Constraint error and writes nothing; a version clash is a ConcurrencyConflict", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const a = `a-${randomUUID()}`
        const b = `b-${randomUUID()}`
        const [first] = yield* store.append({
          aggregateType: "T",
          aggregateId: a,
          expectedVersion: 0,
          events: [unsaved(a, 1)],
          state: { version: 1, state: { n: 1 } }
        })
        const taken = first!.eventId

        // another aggregate, a free version, but an event id that exists: not the version check
        const other = failureOf(
          yield* Effect.exit(store.append({
            aggregateType: "T",
            aggregateId: b,
            expectedVersion: 0,
            events: [unsaved(b, 1), unsaved(b, 2, taken)],
            state: { version: 2, state: { n: 2 } }
          }))
        )
        expect(other).toBeInstanceOf(EventStore.EventStoreError)
        expect(other._tag).toBe("EventStoreError")
        expect((other as EventStore.EventStoreError).reason).toBe("Constraint")
        expect((other as EventStore.EventStoreError).detail).toMatch(/^append events: /)
        expect(yield* store.readStream("T", b, 0)).toEqual([])
        expect(yield* store.readState("T", b)).toEqual(Option.none())

        // the same aggregate, the next version, a reused event id: still a Constraint error
        const same = failureOf(
          yield* Effect.exit(store.append({
            aggregateType: "T",
            aggregateId: a,
            expectedVersion: 1,
            events: [unsaved(a, 2, taken)],
            state: { version: 2, state: { n: 2 } }
          }))
        )
        expect(same).toMatchObject({ _tag: "EventStoreError", reason: "Constraint" })

        // inside a transaction: the caller sees the same error, and the transaction's writes are undone
        const c = `c-${randomUUID()}`
        const inTransaction = failureOf(
          yield* Effect.exit(store.withTransaction(Effect.gen(function*() {
            yield* store.append({ aggregateType: "T", aggregateId: c, expectedVersion: 0, events: [unsaved(c, 1)] })
            return yield* store.append({
              aggregateType: "T",
              aggregateId: c,
              expectedVersion: 1,
              events: [unsaved(c, 2, taken)]
            })
          })))
        )
        expect(inTransaction).toMatchObject({ _tag: "EventStoreError", reason: "Constraint" })
        expect(yield* store.readStream("T", c, 0)).toEqual([])

        // the version check: a ConcurrencyConflict, not a Constraint error
        const clash = failureOf(
          yield* Effect.exit(store.append({
            aggregateType: "T",
            aggregateId: a,
            expectedVersion: 0,
            events: [unsaved(a, 1)],
            state: { version: 1, state: { stale: true } }
          }))
        )
        expect(clash).toBeInstanceOf(EventStore.ConcurrencyConflict)
        expect(clash).toMatchObject({
          _tag: "ConcurrencyConflict",
          aggregateType: "T",
          aggregateId: a,
          expectedVersion: 0
        })

        // a was left as it was
        expect((yield* store.readStream("T", a, 0)).map((e) => [e.version, e.eventId])).toEqual([[1, taken]])
        expect(yield* store.readState("T", a)).toEqual(Option.some({ version: 1, state: { n: 1 } }))
      }))

    it.effect("an undecodable state row fails load and execute with a typed EventDecodeError", () =>
      Effect.gen(function*() {
        const sql = (yield* SqlClient.SqlClient).withoutTransforms()
        const sku = Sku.make(`sku-${randomUUID()}`)
        yield* sql`INSERT INTO effect_ddd_states (aggregate_type, aggregate_id, version, state)
          VALUES (${"Inventory"}, ${sku}, ${1}, ${JSON.stringify({ available: "lots" })})`

        const loaded = failureOf(yield* Effect.exit(CommandHandler.load(Inventory, sku)))
        expect(loaded._tag).toBe("EventDecodeError")
        expect(loaded).toMatchObject({
          aggregateType: "Inventory",
          aggregateId: sku,
          eventType: "(state)",
          eventId: `Inventory/${sku}@1`
        })

        const executed = failureOf(
          yield* Effect.exit(CommandHandler.execute(Inventory, sku, "restock", { quantity: 1 }))
        )
        expect(executed._tag).toBe("EventDecodeError")
        const events = yield* sql<{ n: number | string }>`
          SELECT COUNT(*) AS n FROM effect_ddd_events WHERE aggregate_type = 'Inventory' AND aggregate_id = ${sku}`
        expect(Number(events[0]!.n)).toBe(0)
      }))
  })

dialectSuite("SQLite", SqliteClient.layer({ filename: tempFile() }))
dialectSuite("PostgreSQL", pgClient("errors"))

describe("SQL errors: PostgreSQL unavailable", () => {
  it.live("an unreachable server: building the store fails with the client's SqlError, which maps to Unavailable", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(freePort) // nothing listens there
      const client = PgClient.layer({
        url: Redacted.make(`postgres://postgres@127.0.0.1:${port}/x`),
        connectTimeout: "30 seconds"
      })
      const exit = yield* Layer.build(SqlEventStore.layer().pipe(Layer.provide(client))).pipe(
        Effect.scoped,
        Effect.exit
      )
      // refused at once (not "PgClient: Connection timed out"), before the store or its migrations run
      const error = failureOf(exit)
      expect(error).toBeInstanceOf(SqlError)
      expect(error).toMatchObject({ _tag: "SqlError", message: "PgClient: Failed to connect" })
      expect((error as SqlError).cause).toMatchObject({ code: "ECONNREFUSED" })
      const mapped = SqlEventStore.toStoreError(error as SqlError)
      expect(mapped.reason).toBe("Unavailable")
      expect(mapped.detail).toMatch(/ECONNREFUSED/)
    }))

  it.live("a connection terminated while a store call waits: EventStoreError Unavailable, then the store recovers", () =>
    Effect.gen(function*() {
      const url = yield* Effect.promise(() => freshDatabase("terminated"))
      const applicationName = `victim-${randomUUID().slice(0, 8)}`
      const Store = SqlEventStore.layer().pipe(
        Layer.provide(PgClient.layer({ url: Redacted.make(url), applicationName, maxConnections: 2 }))
      )
      const locker = new pg.Client({ connectionString: url })
      yield* Effect.acquireRelease(Effect.promise(() => locker.connect()), () => Effect.promise(() => locker.end()))

      yield* Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        // make the store's read wait on a lock, so it is in flight when its connection is killed
        yield* Effect.promise(() => locker.query("BEGIN; LOCK TABLE effect_ddd_states IN ACCESS EXCLUSIVE MODE"))
        const read = yield* Effect.fork(Effect.exit(store.readState("Inventory", "sku-1")))
        const victim = yield* Effect.promise(() =>
          locker.query<{ pid: number }>(
            `SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`,
            [applicationName]
          )
        ).pipe(
          Effect.map((result) => result.rows),
          Effect.filterOrFail((rows) => rows.length > 0, () => "the read is not waiting on the lock yet"),
          Effect.retry(Schedule.spaced("20 millis").pipe(Schedule.upTo("10 seconds")))
        )
        expect(victim).toHaveLength(1)
        yield* Effect.promise(() => locker.query("SELECT pg_terminate_backend($1)", [victim[0]!.pid]))

        const error = failureOf(yield* Fiber.join(read))
        expect(error).toBeInstanceOf(EventStore.EventStoreError)
        expect(error).toMatchObject({ _tag: "EventStoreError", reason: "Unavailable" })
        expect(error.detail).toMatch(/^read state: /)

        yield* Effect.promise(() => locker.query("ROLLBACK"))
        // the store works again. The pool may hand out the killed connection once more before it
        // notices the socket closed; that is reported as Unavailable too ("worth retrying later").
        const again = yield* store.readState("Inventory", "sku-1").pipe(
          Effect.retry({ while: (e) => e.reason === "Unavailable", schedule: Schedule.spaced("50 millis"), times: 3 })
        )
        expect(again).toEqual(Option.none())
      }).pipe(Effect.provide(Store))
    }).pipe(Effect.scoped))
})

describe("SqlEventStore.toStoreError", () => {
  const reasonOf = (cause: unknown) => SqlEventStore.toStoreError(new SqlError({ cause, message: "boom" })).reason

  it("maps driver error codes to reasons", () => {
    expect(reasonOf({ code: "57P01" })).toBe("Unavailable") // admin shutdown
    expect(reasonOf({ code: "08006" })).toBe("Unavailable") // connection failure
    expect(reasonOf({ code: "SQLITE_BUSY" })).toBe("Unavailable")
    expect(reasonOf({ code: "23503" })).toBe("Constraint") // foreign key violation
    expect(reasonOf({ code: "23505" })).toBe("Constraint")
    expect(reasonOf({ code: "SQLITE_CONSTRAINT_UNIQUE" })).toBe("Constraint")
    expect(reasonOf({ code: "42P01" })).toBe("Unknown") // undefined table
    expect(reasonOf({ code: "XX000" })).toBe("Unknown")
    expect(reasonOf(new Error("something odd"))).toBe("Unknown")
  })

  it("keeps the SqlError as the cause and takes the detail from the driver's message", () => {
    const sqlError = new SqlError({
      cause: Object.assign(new Error("duplicate key"), { code: "23505" }),
      message: "boom"
    })
    const mapped = SqlEventStore.toStoreError(sqlError)
    expect(mapped).toBeInstanceOf(EventStore.EventStoreError)
    expect(mapped).toMatchObject({ reason: "Constraint", detail: "duplicate key" })
    expect(mapped.cause).toBe(sqlError)
    expect(SqlEventStore.toStoreError(sqlError, "while testing").detail).toBe("while testing")
  })
})
