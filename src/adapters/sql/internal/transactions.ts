/**
 * The store's transactions. A top-level transaction runs on a connection of the store's
 * (`onConnection`) with BEGIN and COMMIT as prepared statements, and puts the connection where
 * `@effect/sql` looks for the ambient transaction: any statement of the caller through the client
 * joins it, and a nested `withTransaction` is a savepoint. Concurrent top-level transactions are
 * committed together (`groupCommit.ts`), each in a savepoint of the batch's transaction.
 *
 * Every step on this path is paid by every transaction: it is written with as few steps of the
 * fiber as it can (chains of `flatMap`, no generators).
 */
import type { SqlClient } from "@effect/sql"
import type { Connection } from "@effect/sql/SqlConnection"
import { SqlError } from "@effect/sql/SqlError"
import { Cause, type Context, Effect, Exit, FiberRef, Option } from "effect"
import { EventStoreError } from "../../../ports/EventStore.js"
import type { Prepare } from "../PreparedStatements.js"
import * as Connections from "./connections.js"
import type * as Dialect from "./dialect.js"
import * as EffectSql from "./effectSql.js"
import * as GroupCommit from "./groupCommit.js"
import { toStoreError } from "./queries.js"

/** Marks a failure of the caller's effect, so it is not mistaken for one of the transaction's. */
class CallerFailure {
  constructor(readonly error: unknown) {}
}

const asCallerFailure = (error: unknown) => new CallerFailure(error)

/**
 * The caller's failures as they were, the database's as the port's errors (a COMMIT that died
 * included). One handler for both: each frame on this path is paid by every transaction.
 */
const toTransactionFailure = <A, E, R>(
  effect: Effect.Effect<A, SqlError | CallerFailure, R>
): Effect.Effect<A, E | EventStoreError, R> =>
  Effect.catchAllCause(effect, (cause): Effect.Effect<never, E | EventStoreError> => {
    const failure = Cause.failureOption(cause)
    if (Option.isSome(failure)) {
      const error = failure.value
      return Effect.fail(error instanceof CallerFailure ? error.error as E : toStoreError(error))
    }
    const defect = Cause.dieOption(cause)
    return Option.isSome(defect) && defect.value instanceof SqlError
      ? Effect.fail(toStoreError(defect.value, "commit failed"))
      : Effect.failCause(cause as Cause.Cause<never>)
  })

const rolledBackAtCommit = new CallerFailure(
  new EventStoreError({ reason: "Unknown", detail: "the database rolled the transaction back at commit" })
)

/**
 * Run `self` with the ambient transaction on `conn` at `depth`, with `services` when given (group
 * commit: those of the fiber that queued it), and set the fiber's context back afterwards.
 */
const inContext = (
  conn: Connection,
  depth: number,
  self: Effect.Effect<unknown, unknown>,
  restore: Connections.Restore,
  services: Context.Context<never> | undefined
) =>
  Effect.withFiberRuntime<Exit.Exit<unknown, unknown>>((fiber) =>
    Connections.withTransactionConnection(
      services ?? fiber.currentContext,
      conn,
      depth,
      restore(Connections.mapFailure(self, asCallerFailure)),
      fiber.currentContext
    )
  )

/** The statements that control a transaction, as handed to the driver. */
interface Control {
  /**
   * `BEGIN IMMEDIATE` on SQLite: the transaction takes the write lock before it reads, so a commit
   * of another process between its reads and its first write cannot leave it on a stale snapshot
   * (`SQLITE_BUSY_SNAPSHOT`, which no busy timeout waits out); other writers wait for it instead.
   */
  readonly begin: string
  readonly commit: string
  /** Whether the driver may answer COMMIT with a rollback (node-postgres) instead of an error. */
  readonly commitMayRollBack: boolean
  readonly rollback: string
  readonly savepoint: string
  readonly rollbackSavepoint: string
  /**
   * Released after each member of a batch, on every dialect. Keeping them open until COMMIT saves a
   * statement per member but nests them, and SQLite's pager then checks every open savepoint on each
   * page a member writes: a batch of 16 cost about 50% more CPU per command than with the RELEASE.
   */
  readonly releaseSavepoint: string
}

const control = (prepare: Prepare, dialect: Dialect.Name): Control => ({
  begin: prepare(dialect === "sqlite" ? "BEGIN IMMEDIATE" : "BEGIN"),
  commit: prepare("COMMIT"),
  commitMayRollBack: dialect === "pg",
  rollback: prepare("ROLLBACK"),
  savepoint: prepare("SAVEPOINT effect_ddd_batch"),
  rollbackSavepoint: prepare("ROLLBACK TO SAVEPOINT effect_ddd_batch"),
  releaseSavepoint: prepare("RELEASE SAVEPOINT effect_ddd_batch")
})

/**
 * COMMIT, then `value`. PostgreSQL answers COMMIT in an aborted transaction (a statement failed
 * and was caught) with ROLLBACK, not an error: report it, never as a success.
 */
const commitThen = (sql: Control, conn: Connection, value: unknown) =>
  sql.commitMayRollBack
    ? Effect.flatMap(
      EffectSql.executeRaw(conn, sql.commit),
      (result) => (EffectSql.rolledBack(result) ? Effect.fail(rolledBackAtCommit) : Effect.succeed(value))
    )
    : Effect.as(EffectSql.execute(conn, sql.commit, []), value)

/** BEGIN, the caller's effect on the connection, COMMIT or ROLLBACK. */
const transactionOn = (
  sql: Control,
  conn: Connection,
  self: Effect.Effect<unknown, unknown>,
  restore: Connections.Restore,
  services: Context.Context<never> | undefined
) =>
  Effect.zipRight(
    EffectSql.execute(conn, sql.begin, []),
    Effect.flatMap(inContext(conn, 0, self, restore, services), (exit) =>
      Exit.isSuccess(exit)
        ? commitThen(sql, conn, exit.value)
        : Effect.zipRight(Effect.ignore(EffectSql.execute(conn, sql.rollback, [])), exit))
  )

/**
 * SAVEPOINT, a batch member's effect with the services of the fiber that queued it (in the batch's
 * transaction, at depth 1), ROLLBACK TO the savepoint on failure, then RELEASE it. The member
 * leaves its context in place: the next member sets its own, and the batch's transaction sets the
 * runner's back once all have run.
 */
const inSavepoint = (
  sql: Control,
  self: Effect.Effect<unknown, unknown>,
  conn: Connection,
  services: Context.Context<never>
) =>
  Effect.zipRight(
    EffectSql.execute(conn, sql.savepoint, []),
    Effect.zipRight(
      FiberRef.set(FiberRef.currentContext, EffectSql.inTransaction(services, conn, 1)),
      Effect.matchCauseEffect(self, {
        onFailure: (cause) =>
          Effect.zipRight(
            EffectSql.execute(conn, sql.rollbackSavepoint, []),
            Effect.zipRight(
              EffectSql.execute(conn, sql.releaseSavepoint, []),
              Effect.failCause(Cause.map(cause, asCallerFailure))
            )
          ),
        onSuccess: (value) => Effect.as(EffectSql.execute(conn, sql.releaseSavepoint, []), value)
      })
    )
  )

export interface Options {
  /** The store's client (without transforms). */
  readonly sql: SqlClient.SqlClient
  readonly dialect: Dialect.Name
  /** How statements are handed to the driver. */
  readonly prepare: Prepare
  /** Where a top-level transaction gets its connection. */
  readonly onConnection: Connections.OnConnection
  /** Group commit's options, or false to run each transaction on its own. */
  readonly groupCommit: false | GroupCommit.Options
}

export interface Transactions {
  /** The port's `withTransaction`: joins the ambient transaction, or starts one (group committed). */
  readonly withTransaction: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | EventStoreError, R>
  /** The port's `withSession`: statements outside a transaction on one connection. */
  readonly withSession: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | EventStoreError, R>
}

export const make = (options: Options): Transactions => {
  const { onConnection } = options
  const sql = control(options.prepare, options.dialect)

  /** A top-level transaction on a connection of the store's. */
  const topLevel = <A, E, R>(
    self: Effect.Effect<A, E, R>,
    services?: Context.Context<never>
  ): Effect.Effect<A, E | EventStoreError, R> =>
    toTransactionFailure<A, E, R>(
      onConnection((conn, restore) =>
        transactionOn(sql, conn, self as Effect.Effect<unknown, unknown>, restore, services)
      ) as Effect.Effect<A, SqlError | CallerFailure, R>
    )

  /**
   * A savepoint of the batch's transaction (group commit runs its members one after the other
   * inside `topLevel`, in a fiber of its own that nothing interrupts: no uninterruptible region).
   */
  const inBatch = <A, E, R>(
    self: Effect.Effect<A, E, R>,
    services?: Context.Context<never>
  ): Effect.Effect<A, E | EventStoreError, R> =>
    Connections.withAmbientTransaction((tx) =>
      toTransactionFailure<A, E, R>(
        inSavepoint(sql, self as Effect.Effect<unknown, unknown>, tx![0], services!) as Effect.Effect<
          A,
          SqlError | CallerFailure,
          R
        >
      )
    )

  const startTransaction = options.groupCommit === false
    ? <A, E, R>(self: Effect.Effect<A, E, R>) => topLevel(self)
    : GroupCommit.make<EventStoreError>({ transaction: topLevel, savepoint: inBatch }, options.groupCommit)

  /** Nested: a savepoint through the client (which finds the ambient transaction's connection). */
  const nested = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | EventStoreError, R> =>
    toTransactionFailure<A, E, R>(options.sql.withTransaction(Connections.mapFailure(self, asCallerFailure)))

  return {
    withTransaction: (self) =>
      Connections.withAmbientTransaction((tx) => (tx !== undefined ? nested(self) : startTransaction(self))),
    withSession: <A, E, R>(self: Effect.Effect<A, E, R>) =>
      Connections.mapFailure(
        Connections.withSession(onConnection, Connections.mapFailure(self, asCallerFailure)),
        (error): E | EventStoreError => (error instanceof CallerFailure ? error.error as E : toStoreError(error))
      )
  }
}
