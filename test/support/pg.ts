import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { Deferred, Effect, Fiber, Layer, Redacted } from "effect"
import { freshDatabase } from "./database.js"

/** A PostgreSQL client on a new, empty database of the test server. */
export const pgClient = (name: string, options: { readonly maxConnections?: number } = {}) =>
  Layer.unwrapEffect(
    Effect.map(Effect.promise(() => freshDatabase(name)), (url) =>
      PgClient.layer({ url: Redacted.make(url), maxConnections: options.maxConnections ?? 20 }))
  )

/**
 * Open a transaction with an id of its own and keep it open until `end` runs: events committed
 * meanwhile stay above the safe horizon, unreadable.
 */
export const olderTransaction = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const opened = yield* Deferred.make<void>()
  const finish = yield* Deferred.make<void>()
  const fiber = yield* Effect.fork(sql.withTransaction(Effect.gen(function*() {
    yield* sql`SELECT pg_current_xact_id()`
    yield* Deferred.succeed(opened, undefined)
    yield* Deferred.await(finish)
  })))
  yield* Deferred.await(opened)
  return { end: Effect.zipRight(Deferred.succeed(finish, undefined), Fiber.join(fiber)) }
})
