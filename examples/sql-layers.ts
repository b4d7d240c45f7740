import type { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { Config, Effect, Layer, Option } from "effect"
import { CommandHandler } from "effect-ddd"
import { SqlEventStore } from "effect-ddd/sql"

// SQLite is the embedded default (WAL is on by default); PostgreSQL when DATABASE_URL is set.
export const SqlLive: Layer.Layer<SqlClient.SqlClient, unknown> = Layer.unwrapEffect(
  Effect.map(
    Config.option(Config.redacted("DATABASE_URL")),
    (url): Layer.Layer<SqlClient.SqlClient, unknown> =>
      Option.isSome(url)
        ? PgClient.layer({ url: url.value })
        : SqliteClient.layer({ filename: "data/app.db" })
  )
)

export const CommandsLive = CommandHandler.layer().pipe(
  Layer.provide(SqlEventStore.layer()), // runs the library's migrations at start
  Layer.provide(SqlLive)
)
