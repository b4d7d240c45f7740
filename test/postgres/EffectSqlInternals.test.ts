/**
 * What the SQL adapters rely on in `@effect/sql`, its drivers and their database clients beyond
 * their documented API (src/adapters/sql/internal/effectSql.ts), checked against the installed
 * versions on a real SQLite file and a real PostgreSQL server. Each failure names what changed and
 * what it would cost: an upgrade that breaks one of these fails here, loudly, instead of making
 * the store silently slower or wrong.
 */
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { SqlError } from "@effect/sql/SqlError"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber, FiberRef, Option } from "effect"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as EffectSql from "../../src/adapters/sql/internal/effectSql.js"
import { pgClient } from "../support/pg.js"

const sqliteClient = () =>
  SqliteClient.layer({ filename: join(mkdtempSync(join(tmpdir(), "effect-ddd-internals-")), "internals.db") })

/** Run `self` on a connection held from the client, released afterwards. */
const onHeld = <A, E, R>(use: (held: EffectSql.Held) => Effect.Effect<A, E, R>) =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) => Effect.acquireUseRelease(EffectSql.hold(sql), use, (held) => held.release)
  )

/** Run `self` with the ambient transaction of `@effect/sql` on `connection`. */
const insideTransactionOn = <A, E, R>(connection: EffectSql.Held["connection"], self: Effect.Effect<A, E, R>) =>
  Effect.flatMap(
    FiberRef.get(FiberRef.currentContext),
    (context) => Effect.locally(self, FiberRef.currentContext, EffectSql.inTransaction(context, connection, 0))
  )

/** The error a failing effect failed with. */
const failureOf = <E>(exit: Exit.Exit<unknown, E>): E => {
  if (Exit.isSuccess(exit)) throw new Error("expected a failure")
  const failure = Cause.failureOption(exit.cause)
  if (Option.isNone(failure)) throw new Error(`expected a typed failure, got ${Cause.pretty(exit.cause)}`)
  return failure.value
}

describe("@effect/sql internals the SQL adapters rely on", () => {
  it("@effect/sql-pg's client type id and tag have the keys the adapters look for", () => {
    expect(
      PgClient.TypeId,
      `@effect/sql-pg's PgClient type id changed from "${EffectSql.PG_CLIENT_TYPE_ID}": the store no longer ` +
        `recognises a PgClient and silently stops using named prepared statements (update effectSql.ts)`
    ).toBe(EffectSql.PG_CLIENT_TYPE_ID)
    expect(
      PgClient.PgClient.key,
      `@effect/sql-pg's PgClient tag key changed from "${EffectSql.PG_CLIENT_TAG_KEY}": PgWakeup would not find ` +
        `the application's PgClient (update effectSql.ts)`
    ).toBe(EffectSql.PG_CLIENT_TAG_KEY)
  })

  it.live("a PgClient is recognised as one, a SQLite client is not", () =>
    Effect.gen(function*() {
      const pg = yield* Effect.provide(SqlClient.SqlClient, pgClient("internals-kind", { maxConnections: 1 }))
      const sqlite = yield* Effect.provide(SqlClient.SqlClient, sqliteClient())
      expect(
        EffectSql.isPgClient(pg),
        `a client made by @effect/sql-pg no longer carries the key "${EffectSql.PG_CLIENT_TYPE_ID}": the store ` +
          `would silently stop using named prepared statements on PostgreSQL`
      ).toBe(true)
      expect(EffectSql.isPgClient(pg.withoutTransforms()), "the client without transforms lost the type id key")
        .toBe(true)
      expect(EffectSql.isPgClient(sqlite)).toBe(false)
      // the tag by its key finds the application's PgClient
      const found = yield* Effect.provide(EffectSql.PgClientTag, pgClient("internals-tag", { maxConnections: 1 }))
      expect(EffectSql.isPgClient(found), `Context.GenericTag("${EffectSql.PG_CLIENT_TAG_KEY}") found no PgClient`)
        .toBe(true)
    }))

  it.live("a { name, text } query config in place of the text runs as a named prepared statement", () =>
    onHeld(({ connection }) =>
      Effect.gen(function*() {
        const rows = yield* Effect.either(
          EffectSql.execute<{ one: number }>(
            connection,
            EffectSql.namedStatement("effect_ddd_probe", "SELECT 1 AS one"),
            []
          )
        )
        expect(
          rows._tag === "Right" ? rows.right : String(rows.left.cause),
          "@effect/sql-pg no longer hands a node-postgres query config given as the statement's text on to " +
            "node-postgres: every store statement would fail (turn PreparedStatements.Enabled off, update effectSql.ts)"
        ).toEqual([{ one: 1 }])
        const prepared = yield* EffectSql.execute<{ name: string; statement: string }>(
          connection,
          "SELECT name, statement FROM pg_prepared_statements WHERE name = 'effect_ddd_probe'",
          []
        )
        expect(
          prepared,
          "the query config ran, but not as a named prepared statement: PostgreSQL would parse and plan every " +
            "store statement again (about 40% more server CPU per command)"
        ).toEqual([{ name: "effect_ddd_probe", statement: "SELECT 1 AS one" }])
      })
    ).pipe(Effect.provide(pgClient("internals-named", { maxConnections: 1 }))))

  it.live("COMMIT after a failed statement answers with a ROLLBACK result, and a good COMMIT does not", () =>
    onHeld(({ connection }) =>
      Effect.gen(function*() {
        yield* EffectSql.execute(connection, "BEGIN", [])
        yield* Effect.ignore(EffectSql.execute(connection, "SELECT * FROM no_such_table", []))
        expect(
          yield* EffectSql.commit(connection, "COMMIT"),
          "node-postgres's answer to COMMIT in an aborted transaction no longer has command ROLLBACK: the store " +
            "would report such a transaction as committed (update EffectSql.rolledBack)"
        ).toBe(false)
        yield* EffectSql.execute(connection, "BEGIN", [])
        yield* EffectSql.execute(connection, "SELECT 1", [])
        expect(yield* EffectSql.commit(connection, "COMMIT"), "a good COMMIT was read as a rollback").toBe(true)
      })
    ).pipe(Effect.provide(pgClient("internals-commit", { maxConnections: 1 }))))

  it.live("on SQLite, a held connection keeps the client's other statements waiting until it is released", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const statement = sql<{ one: number }>`SELECT 1 AS one`
      // control: with nothing held, the statement runs within a few turns of the scheduler
      const free = yield* Effect.fork(statement)
      for (let i = 0; i < 10 && free.unsafePoll() === null; i++) yield* Effect.yieldNow()
      expect(free.unsafePoll(), "control: a statement on a free connection did not run").not.toBeNull()

      const held = yield* EffectSql.hold(sql)
      const waiting = yield* Effect.fork(statement)
      for (let i = 0; i < 10; i++) yield* Effect.yieldNow()
      expect(
        waiting.unsafePoll(),
        "SqlClient.reserve on SQLite no longer keeps the client's other statements out: a statement of another " +
          "fiber could land inside the store's transaction (update the pinned connection)"
      ).toBeNull()
      yield* held.release
      expect(yield* Fiber.join(waiting)).toEqual([{ one: 1 }])
    }).pipe(Effect.provide(sqliteClient())))

  it.live("the client's statements join a transaction put under TransactionConnection; withTransaction nests", () =>
    onHeld(({ connection }) =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql`CREATE TABLE probe (id INT PRIMARY KEY)`
        yield* EffectSql.execute(connection, "BEGIN", [])
        yield* insideTransactionOn(
          connection,
          Effect.gen(function*() {
            yield* sql`INSERT INTO probe VALUES (1)`
            // a nested transaction is a savepoint: its failure undoes its own insert only
            yield* Effect.exit(
              sql.withTransaction(Effect.zipRight(sql`INSERT INTO probe VALUES (2)`, Effect.fail("no")))
            )
            yield* sql`INSERT INTO probe VALUES (3)`
          })
        )
        const inside = yield* EffectSql.execute<{ id: number }>(connection, "SELECT id FROM probe ORDER BY id", [])
        yield* EffectSql.execute(connection, "ROLLBACK", [])
        const after = yield* sql<{ id: number }>`SELECT id FROM probe`
        expect(
          after,
          "a statement of the client inside a transaction put under SqlClient.TransactionConnection ran on " +
            "another connection: commands would no longer be atomic (update effectSql.ts and transactions.ts)"
        ).toEqual([])
        expect(
          inside,
          "@effect/sql's withTransaction inside the store's transaction is no longer a savepoint of it"
        ).toEqual([{ id: 1 }, { id: 3 }])
      })
    ).pipe(Effect.provide(pgClient("internals-ambient", { maxConnections: 2 }))))

  const duplicateKey = Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`CREATE TABLE dup_probe (id INT, CONSTRAINT dup_probe_key PRIMARY KEY (id))`
    yield* sql`INSERT INTO dup_probe VALUES (1)`
    const exit = yield* Effect.exit(sql`INSERT INTO dup_probe VALUES (1)`)
    const error = failureOf(exit)
    expect(error).toBeInstanceOf(SqlError)
    return error
  })

  it.live("drivers leave the database's error code (and PostgreSQL's constraint) on SqlError.cause", () =>
    Effect.gen(function*() {
      const message = "the driver no longer leaves the database's error code on SqlError.cause.code: version " +
        "conflicts and an unreachable database would be reported as Unknown errors (update EffectSql.errorCode)"
      const sqlite = yield* Effect.provide(duplicateKey, sqliteClient())
      expect(EffectSql.errorCode(sqlite), message).toBe("SQLITE_CONSTRAINT_PRIMARYKEY")
      const pg = yield* Effect.provide(duplicateKey, pgClient("internals-errors", { maxConnections: 1 }))
      expect(EffectSql.errorCode(pg), message).toBe("23505")
      expect(
        EffectSql.violatedConstraint(pg),
        "node-postgres no longer reports the violated constraint: an atomic append's version clash would be an " +
          "error instead of a ConcurrencyConflict (update EffectSql.violatedConstraint)"
      ).toBe("dup_probe_key")
    }))
})
