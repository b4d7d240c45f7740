/**
 * The SQL event store put together: its statements in the client's dialect, where they run
 * (`PinnedConnection`: SQLite's one connection kept across back-to-back transactions; a pool's
 * connection otherwise), its transactions (group committed), appends, reads and idempotency
 * records.
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import type { Service } from "../../../ports/EventStore.js"
import * as PreparedStatements from "../PreparedStatements.js"
import * as Appends from "./appends.js"
import * as Connections from "./connections.js"
import * as Dialect from "./dialect.js"
import * as Idempotency from "./idempotency.js"
import * as LogQueries from "./logQueries.js"
import * as PinnedConnection from "./pinnedConnection.js"
import * as Queries from "./queries.js"
import * as Reads from "./reads.js"
import * as Statements from "./statements.js"
import * as Transactions from "./transactions.js"

export interface Options {
  readonly groupCommit?: false | { readonly maxBatch?: number; readonly concurrency?: number }
}

export const make = (options: Options): Effect.Effect<Service, never, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const client = yield* SqlClient.SqlClient
    const sql = client.withoutTransforms()
    const dialect = Dialect.of(sql)
    const onConnection = PinnedConnection.onConnection(client, dialect)
    const prepare = yield* PreparedStatements.of(client)
    const query = Queries.make(onConnection, prepare)
    const statements = Statements.make(dialect)

    const transactions = Transactions.make({
      sql,
      dialect,
      prepare,
      onConnection,
      groupCommit: options.groupCommit === false ? false : {
        maxBatch: options.groupCommit?.maxBatch ?? 64,
        concurrency: options.groupCommit?.concurrency ?? (dialect === "pg" ? 4 : 1),
        yieldFirst: dialect === "sqlite"
      }
    })
    const appendInTransaction = Appends.inTransaction(query, statements)
    const appendAtomically = Appends.atomically(onConnection, prepare, statements)

    return {
      ...Reads.make(query, statements, LogQueries.make(dialect)),
      ...Idempotency.make(query, statements),
      atomicAppend: dialect === "pg",
      inTransaction: Connections.withAmbientTransaction((tx) => Effect.succeed(tx !== undefined)),
      // SQLite's statements share its one pinned connection already
      ...(dialect === "pg" ? { withSession: transactions.withSession } : {}),
      append: (request) =>
        Connections.withAmbientTransaction((tx) =>
          tx !== undefined
            ? appendInTransaction(request)
            : dialect === "pg"
            ? appendAtomically(request)
            : transactions.withTransaction(appendInTransaction(request))
        ),
      withTransaction: transactions.withTransaction
    } satisfies Service
  })
