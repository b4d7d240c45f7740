/**
 * Everything the SQL adapters rely on in `@effect/sql`, its drivers and their database clients
 * beyond their documented API, in one place. `test/postgres/EffectSqlInternals.test.ts` checks each of
 * these against the installed versions, on a real SQLite file and a real PostgreSQL server, and
 * names what changed when one no longer holds: an upgrade then fails that test instead of making
 * the store silently slower (or wrong).
 *
 * - `@effect/sql-pg`'s client carries its type id under a string key (`isPgClient`) and its tag
 *   has a known key (`PgClientTag`);
 * - its connections hand a query config (`{ name, text }`) given in place of the text on to
 *   node-postgres, which then runs a named prepared statement (`namedStatement`);
 * - node-postgres answers `COMMIT` in a failed transaction with a result whose `command` is
 *   `ROLLBACK`, not with an error (`commit`);
 * - `SqlClient.reserve` takes the connection for as long as its scope is open, and on SQLite the
 *   client's other statements wait for it (`hold`);
 * - `@effect/sql` looks for the ambient transaction under `SqlClient.TransactionConnection`
 *   (`[connection, depth]`): a connection put there makes the client's statements join its
 *   transaction and its `withTransaction` a savepoint (`ambientTransaction`, `inTransaction`);
 * - drivers leave the database's error on `SqlError.cause`, with its `code` (node-postgres:
 *   SQLSTATE; better-sqlite3: `SQLITE_...`) and, on PostgreSQL, the violated `constraint`
 *   (`errorCode`, `violatedConstraint`).
 */
import { SqlClient } from "@effect/sql"
import type { PgClient as Pg } from "@effect/sql-pg"
import type { Connection } from "@effect/sql/SqlConnection"
import type { SqlError } from "@effect/sql/SqlError"
import { Context, Effect, Exit, FiberRef, Option, Scope } from "effect"

/** The string key of `@effect/sql-pg`'s client type id. */
export const PG_CLIENT_TYPE_ID = "~@effect/sql-pg/PgClient"

/** Whether `sql` is `@effect/sql-pg`'s client (whose connections accept node-postgres query configs). */
export const isPgClient = (sql: SqlClient.SqlClient): boolean => PG_CLIENT_TYPE_ID in sql

/** The key of `@effect/sql-pg`'s `PgClient` tag. */
export const PG_CLIENT_TAG_KEY = "@effect/sql-pg/PgClient"

/**
 * `@effect/sql-pg`'s tag, by its key: a type-only import keeps `effect-ddd/sql` loadable where
 * only the SQLite driver is installed (tags with the same key are the same service).
 */
export const PgClientTag: Context.Tag<Pg.PgClient, Pg.PgClient> = Context.GenericTag<Pg.PgClient>(PG_CLIENT_TAG_KEY)

/**
 * A node-postgres query config naming the statement, in place of its text: `@effect/sql-pg`
 * passes it on to node-postgres as it is. A fresh object per run: some node-postgres versions
 * write into the config they are given.
 */
export const namedStatement = (name: string, text: string): string => ({ name, text }) as unknown as string

/** Whether the driver's answer to `COMMIT` says the database rolled the transaction back. */
export const rolledBack = (result: unknown): boolean =>
  (result as { readonly command?: unknown } | undefined)?.command === "ROLLBACK"

/**
 * Run `COMMIT` (as `text`, possibly prepared) on `connection`: true if it committed, false if the
 * database rolled the transaction back instead (PostgreSQL does in a transaction where a
 * statement failed, and answers without an error).
 */
export const commit = (connection: Connection, text: string): Effect.Effect<boolean, SqlError> =>
  Effect.map(connection.executeRaw(text, []), (result) => !rolledBack(result))

/** A statement on a connection, with the driver's own result (node-postgres: its `Result`). */
export const executeRaw = (connection: Connection, text: string): Effect.Effect<unknown, SqlError> =>
  connection.executeRaw(text, [])

/** A statement on a connection, its rows as the driver returns them (no transformation). */
export const execute = <A extends object>(
  connection: Connection,
  text: string,
  params: ReadonlyArray<unknown>
): Effect.Effect<ReadonlyArray<A>, SqlError> =>
  connection.execute(text, params as ReadonlyArray<any>, undefined) as Effect.Effect<ReadonlyArray<A>, SqlError>

/** A connection held by `hold`, and the effect that gives it back. */
export interface Held {
  readonly connection: Connection
  readonly release: Effect.Effect<void>
}

/**
 * Reserve a connection from `sql` until `release` runs (uninterruptibly). The reservation runs
 * with its scope as its only service.
 */
export const hold = (sql: SqlClient.SqlClient): Effect.Effect<Held, SqlError> =>
  Effect.uninterruptible(
    Effect.flatMap(
      Scope.make(),
      (scope) =>
        Effect.flatMap(FiberRef.get(FiberRef.currentContext), (context) =>
          Effect.flatMap(
            Effect.exit(Effect.zipRight(
              // `reserve` needs the scope only: a context of its own, not a copy of the fiber's
              FiberRef.set(FiberRef.currentContext, Context.make(Scope.Scope, scope) as Context.Context<never>),
              sql.reserve as Effect.Effect<Connection, SqlError>
            )),
            (exit) =>
              Effect.zipRight(
                FiberRef.set(FiberRef.currentContext, context),
                Exit.isSuccess(exit)
                  ? Effect.succeed({ connection: exit.value, release: Scope.close(scope, Exit.void) })
                  : Effect.zipRight(Scope.close(scope, exit), Effect.failCause(exit.cause))
              )
          ))
    )
  )

/** The ambient transaction's connection and depth (0: top level), if any. */
export type Transaction = readonly [connection: Connection, depth: number]

/** The ambient transaction of a fiber's context. */
export const ambientTransaction = (context: Context.Context<never>): Transaction | undefined =>
  Option.getOrUndefined(Context.getOption(context, SqlClient.TransactionConnection))

/** `context` inside a transaction on `connection` at `depth` (0: the top level). */
export const inTransaction = (
  context: Context.Context<never>,
  connection: Connection,
  depth: number
): Context.Context<never> => Context.add(context, SqlClient.TransactionConnection, [connection, depth])

/** The database's error code under a driver's `SqlError`. */
export const errorCode = (error: SqlError): string | undefined => {
  const cause = error.cause as { readonly code?: unknown } | undefined
  return typeof cause?.code === "string" ? cause.code : undefined
}

/** The constraint a PostgreSQL statement violated, as node-postgres reports it. */
export const violatedConstraint = (error: SqlError): string | undefined => {
  const cause = error.cause as { readonly constraint?: unknown } | undefined
  return typeof cause?.constraint === "string" ? cause.constraint : undefined
}

/** The database's message under a driver's `SqlError` (the error's own when there is none). */
export const messageOf = (error: SqlError): string =>
  String((error.cause as Error | undefined)?.message ?? error.message)
