/**
 * The database: a SQLite file under `DATA_DIR` (default `./data`) by default, PostgreSQL when
 * `DATABASE_URL` is set. Several processes may share one PostgreSQL database: the relay's leases
 * split the work, and commits wake the other processes' relays through LISTEN/NOTIFY.
 */
import { FileSystem, Path } from "@effect/platform"
import { NodeFileSystem, NodePath } from "@effect/platform-node"
import type { PlatformError } from "@effect/platform/Error"
import type { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { SqliteClient } from "@effect/sql-sqlite-node"
import type { SqlError } from "@effect/sql/SqlError"
import { Config, type ConfigError, Effect, Layer, Option, Redacted } from "effect"
import { Migrations, SqlEventStore } from "effect-ddd/sql"
import { PgWakeup } from "effect-ddd/sql/pg"

/** A database URL for the logs: the password replaced by `***`. */
export const redactUrl = (url: string): string => {
  try {
    const parsed = new URL(url)
    if (parsed.password !== "") parsed.password = "***"
    return parsed.toString()
  } catch {
    return "(a URL that does not parse)"
  }
}

/** A SQLite file named `filename` under `DATA_DIR` (default `./data`). */
const sqliteLive = (filename: string) =>
  Layer.unwrapEffect(Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const directory = yield* Config.string("DATA_DIR").pipe(Config.withDefault("data"))
    yield* fs.makeDirectory(directory, { recursive: true })
    const file = path.resolve(directory, filename)
    yield* Effect.log(`database: SQLite ${file}`)
    return SqliteClient.layer({ filename: file })
  })).pipe(Layer.provide([NodeFileSystem.layer, NodePath.layer]))

// #region pg
const PgLive = (url: Redacted.Redacted) =>
  Layer.unwrapEffect(
    Effect.as(
      Effect.log(`database: PostgreSQL ${redactUrl(Redacted.value(url))}`),
      PgWakeup.layer().pipe(Layer.provideMerge(PgClient.layer({ url })))
    )
  )
// #endregion pg

/** PostgreSQL at the URL in the environment variable `urlVariable` when set, else the SQLite file `filename`. */
export const sqlLayer = (options: {
  readonly urlVariable: string
  readonly filename: string
}): Layer.Layer<SqlClient.SqlClient, ConfigError.ConfigError | SqlError | PlatformError> =>
  Layer.unwrapEffect(
    Effect.map(
      Config.option(Config.redacted(options.urlVariable)),
      (url): Layer.Layer<SqlClient.SqlClient, ConfigError.ConfigError | SqlError | PlatformError> =>
        Option.isSome(url) && Redacted.value(url.value) !== "" ? PgLive(url.value) : sqliteLive(options.filename)
    )
  )

export const SqlLive = sqlLayer({ urlVariable: "DATABASE_URL", filename: "app.db" })

const MigrationsLive = Layer.effectDiscard(Effect.gen(function*() {
  const applied = yield* Migrations.run
  yield* Effect.log(
    applied.length === 0
      ? "migrations: up to date"
      : `migrations: applied ${applied.map(([id, name]) => `${id}_${name}`).join(", ")}`
  )
}))

/** The event store and outbox on a database, after the library's migrations (the SQL client kept too). */
export const eventStoreLayer = <E>(sql: Layer.Layer<SqlClient.SqlClient, E>) =>
  SqlEventStore.layerWithoutMigrations().pipe(
    Layer.provide(MigrationsLive),
    Layer.provideMerge(sql)
  )

/** The event store and outbox on `SqlLive`, after the library's migrations. */
export const EventStoreLive = SqlEventStore.layerWithoutMigrations().pipe(
  Layer.provide(MigrationsLive),
  Layer.provide(SqlLive)
)
