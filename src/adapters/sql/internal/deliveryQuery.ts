/**
 * What the SQL delivery stores (checkpoints, dead letters, deadlines, inbox, registry) share: the
 * dialect, numbered placeholders, and statements that run on the ambient transaction's connection
 * when there is one (so they commit with the deliveries of `EventStore.withTransaction`), or on a
 * connection reserved for them.
 */
import { SqlClient } from "@effect/sql"
import { SqlError } from "@effect/sql/SqlError"
import { Effect, Option } from "effect"
import type { EventStoreError } from "../../../ports/EventStore.js"
import * as PreparedStatements from "../PreparedStatements.js"
import * as Dialect from "./dialect.js"
import * as PinnedConnection from "./pinnedConnection.js"
import * as Queries from "./queries.js"
import { toStoreError } from "./queries.js"

export interface DeliveryQuery {
  readonly dialect: Dialect.Name
  /** The placeholder of the `n`th parameter. */
  readonly p: (n: number) => string
  /** Run a statement; `what` names it in errors. */
  readonly query: Queries.Query
  /** Run `self` in the ambient transaction, or in a transaction of its own if there is none. */
  readonly atomically: <A, E>(self: Effect.Effect<A, E>) => Effect.Effect<A, E | EventStoreError>
}

export const make: Effect.Effect<DeliveryQuery, never, SqlClient.SqlClient> = Effect.gen(function*() {
  const client = yield* SqlClient.SqlClient
  const sql = client.withoutTransforms()
  const dialect = Dialect.of(sql)
  const onConnection = PinnedConnection.onConnection(client, dialect)
  const prepare = yield* PreparedStatements.of(client)
  return {
    dialect,
    p: (n) => Dialect.param(dialect, n),
    query: Queries.make(onConnection, prepare),
    atomically: <A, E>(self: Effect.Effect<A, E>): Effect.Effect<A, E | EventStoreError> =>
      Effect.flatMap(
        Effect.serviceOption(SqlClient.TransactionConnection),
        (tx) =>
          Option.isSome(tx) ? self : Effect.catchAll(
            sql.withTransaction(self),
            (error) => Effect.fail(error instanceof SqlError ? toStoreError(error) : error as E)
          )
      )
  }
})
