/**
 * Statements on the SQL client's connections: on the ambient transaction's connection when there
 * is one, otherwise on a connection reserved for the statement.
 *
 * Results never leave through a scope's exit. A closed scope keeps its exit in an object literal,
 * and V8 moves that literal's allocation to the old generation once it has seen enough of them
 * survive; from then on every result returned through a scope (`Effect.scoped`, which
 * `@effect/sql` wraps around each statement it runs) was kept past all young-generation
 * collections until the next full one. A relay draining a backlog grew its heap by ~100 MB that
 * way. Here the scope always closes with a void exit and the result leaves by a variable.
 *
 * Services are put in the fiber's context by setting it and setting it back, inside the
 * uninterruptible region that reserves the connection: a quarter of the operations of
 * `Effect.provideService` / `Scope.extend`, on every transaction.
 */
import type { SqlClient } from "@effect/sql"
import type { Connection } from "@effect/sql/SqlConnection"
import type { SqlError } from "@effect/sql/SqlError"
import { Cause, Context, Effect, type Exit, FiberRef } from "effect"
import * as EffectSql from "./effectSql.js"

/** Makes an effect interruptible again inside an uninterruptible region. */
export type Restore = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>

/** How a store gets a connection for a statement or a transaction of its own. */
export type OnConnection = <A, E, R>(
  use: (connection: Connection, restore: Restore) => Effect.Effect<A, E, R>
) => Effect.Effect<A, E | SqlError, R>

/**
 * Run `use` on a connection reserved from `sql` for it (uninterruptibly, except for what `use`
 * passes to `restore`), and release the connection afterwards.
 */
export const reserved = (sql: SqlClient.SqlClient): OnConnection => (use) =>
  Effect.uninterruptibleMask((restore) =>
    Effect.flatMap(
      EffectSql.hold(sql),
      ({ connection, release }) =>
        Effect.flatMap(Effect.exit(use(connection, restore)), (exit) => Effect.zipRight(release, exit))
    )
  )

/**
 * Run `self` with the fiber's context set to `context`, then set it back to `restoreTo`; only
 * inside an uninterruptible region, where the context is always set back.
 */
const withContext = <A, E, R>(
  context: Context.Context<never>,
  self: Effect.Effect<A, E, R>,
  restoreTo: Context.Context<never>
): Effect.Effect<Exit.Exit<A, E>, never, R> =>
  Effect.zipRight(
    FiberRef.set(FiberRef.currentContext, context),
    Effect.flatMap(Effect.exit(self), (exit) => Effect.as(FiberRef.set(FiberRef.currentContext, restoreTo), exit))
  )

/**
 * Run `self` with the services of `context` and `service`, then set the fiber's context back to
 * `restoreTo` (by default `context`); only inside an uninterruptible region.
 */
export const withService = <I, S, A, E, R>(
  context: Context.Context<never>,
  tag: Context.Tag<I, S>,
  service: NoInfer<S>,
  self: Effect.Effect<A, E, R>,
  restoreTo: Context.Context<never> = context
): Effect.Effect<Exit.Exit<A, E>, never, R> =>
  withContext(Context.add(context, tag, service) as Context.Context<never>, self, restoreTo)

/**
 * Run `self` with the services of `context` inside the transaction on `connection` at `depth`
 * (0: the top level), then set the fiber's context back to `restoreTo`; only inside an
 * uninterruptible region.
 */
export const withTransactionConnection = <A, E, R>(
  context: Context.Context<never>,
  connection: Connection,
  depth: number,
  self: Effect.Effect<A, E, R>,
  restoreTo: Context.Context<never>
): Effect.Effect<Exit.Exit<A, E>, never, R> =>
  withContext(EffectSql.inTransaction(context, connection, depth), self, restoreTo)

/**
 * Run `f` with the ambient transaction's connection (`undefined` outside a transaction), read in
 * one step of the fiber, not the three of `Effect.serviceOption` and `Effect.flatMap`.
 */
export const withAmbientTransaction = <A, E, R>(
  f: (tx: EffectSql.Transaction | undefined) => Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> =>
  Effect.withFiberRuntime<A, E, R>((fiber) => f(EffectSql.ambientTransaction(fiber.currentContext)))

/**
 * `Effect.mapError` as a failure handler only: one step on success instead of two. All the
 * failures of the cause are mapped.
 */
export const mapFailure = <A, E, R, E2>(self: Effect.Effect<A, E, R>, f: (error: E) => E2): Effect.Effect<A, E2, R> =>
  Effect.catchAllCause(self, (cause) => Effect.failCause(Cause.map(cause, f)))

/** The connection a store's session holds for its statements outside a transaction. */
export class SessionConnection
  extends Context.Tag("effect-ddd/sql/SessionConnection")<SessionConnection, Connection>()
{}

/**
 * Run `self` with its statements outside a transaction on one connection from `onConnection`
 * (kept in the fiber's context as its `SessionConnection`).
 */
export const withSession = <A, E, R>(
  onConnection: OnConnection,
  self: Effect.Effect<A, E, R>
): Effect.Effect<A, E | SqlError, R> =>
  Effect.flatMap(
    FiberRef.get(FiberRef.currentContext),
    (context) =>
      onConnection((connection, restore) =>
        Effect.flatten(withService(context, SessionConnection, connection, restore(self)))
      )
  )

/**
 * Run a statement in the ambient transaction, on the session's connection, or alone on a
 * connection of the store's.
 */
export const execute = <A extends object>(
  onConnection: OnConnection,
  text: string,
  params: ReadonlyArray<unknown>
): Effect.Effect<ReadonlyArray<A>, SqlError> =>
  Effect.withFiberRuntime((fiber) => {
    const context = fiber.currentContext
    const tx = EffectSql.ambientTransaction(context)
    if (tx !== undefined) return EffectSql.execute<A>(tx[0], text, params)
    const session = Context.getOption(context, SessionConnection)
    return session._tag === "Some"
      ? EffectSql.execute<A>(session.value, text, params)
      : onConnection((connection) => EffectSql.execute<A>(connection, text, params))
  })
