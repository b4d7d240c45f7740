/**
 * The database the CLI works on: a PostgreSQL URL or a SQLite file, opened with the driver the
 * application already has (`@effect/sql-pg` or `@effect/sql-sqlite-node`), loaded only when it is
 * needed.
 */
import type { SqlClient } from "@effect/sql"
import { Cause, Effect, Layer, Redacted } from "effect"
import { existsSync, statSync } from "node:fs"
import { dirname, resolve } from "node:path"
import * as Migrations from "../../adapters/sql/migrations.js"
import * as SqlEventStore from "../../adapters/sql/SqlEventStore.js"
import { CliError, describe } from "./CliError.js"

/** Where the database is. */
export type Target =
  | { readonly dialect: "pg"; readonly url: string }
  | { readonly dialect: "sqlite"; readonly filename: string }

/** The help text of the `--database` option. */
export const help = "A PostgreSQL URL (postgres://user@host:5432/db) or a SQLite file path; default: DATABASE_URL"

/**
 * Read a `--database` value or `DATABASE_URL`: a `postgres://` or `postgresql://` URL, or a SQLite
 * file path (optionally written `sqlite:path`).
 */
export const parse = (value: string): Effect.Effect<Target, CliError> => {
  const text = value.trim()
  if (text === "") {
    return Effect.fail(
      new CliError({
        message: "no database: pass --database <PostgreSQL URL or SQLite file>, or set DATABASE_URL",
        exitCode: 2
      })
    )
  }
  if (/^postgres(ql)?:\/\//i.test(text)) return Effect.succeed({ dialect: "pg", url: text })
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(text)
  if (scheme !== null) {
    return Effect.fail(
      new CliError({
        message: `unsupported database URL scheme "${scheme[1]}": use postgres://... or a SQLite file path`,
        exitCode: 2
      })
    )
  }
  return Effect.succeed({ dialect: "sqlite", filename: resolve(text.replace(/^sqlite:/i, "")) })
}

/** The target for messages: a URL without its password. */
export const show = (target: Target): string => {
  if (target.dialect === "sqlite") return target.filename
  try {
    const url = new URL(target.url)
    if (url.password !== "") url.password = "***"
    return url.toString()
  } catch {
    return "(unparseable PostgreSQL URL)"
  }
}

const missingDriver = (driver: string, dialect: string) =>
  new CliError({ message: `${dialect} needs the ${driver} package: npm install ${driver}` })

/** A client on the target; `create`: a SQLite file that does not exist yet is created. */
export const client = (
  target: Target,
  options: { readonly create: boolean }
): Layer.Layer<SqlClient.SqlClient, CliError> => {
  const unreachable = (cause: Cause.Cause<unknown>) =>
    new CliError({ message: `cannot open the database ${show(target)}: ${describe(Cause.squash(cause))}` })
  if (target.dialect === "pg") {
    return Layer.unwrapEffect(Effect.map(
      Effect.tryPromise({
        try: () => import("@effect/sql-pg"),
        catch: () => missingDriver("@effect/sql-pg", "PostgreSQL")
      }),
      ({ PgClient }) =>
        PgClient.layer({
          url: Redacted.make(target.url),
          maxConnections: 4,
          connectTimeout: "10 seconds",
          applicationName: "effect-ddd cli"
        })
    )).pipe(
      Layer.catchAllCause((cause) =>
        Layer.fail(Cause.isFailType(cause) && cause.error instanceof CliError ? cause.error : unreachable(cause))
      )
    )
  }
  const { filename } = target
  const checked = Effect.suspend((): Effect.Effect<void, CliError> => {
    if (existsSync(filename)) {
      return statSync(filename).isFile()
        ? Effect.void
        : Effect.fail(new CliError({ message: `${filename} is not a file` }))
    }
    if (!options.create) {
      return Effect.fail(
        new CliError({ message: `no SQLite database at ${filename} (effect-ddd migrate creates one)` })
      )
    }
    return existsSync(dirname(filename))
      ? Effect.void
      : Effect.fail(new CliError({ message: `cannot create ${filename}: no directory ${dirname(filename)}` }))
  })
  return Layer.unwrapEffect(Effect.zipRight(
    checked,
    Effect.map(
      Effect.tryPromise({
        try: () => import("@effect/sql-sqlite-node"),
        catch: () => missingDriver("@effect/sql-sqlite-node", "SQLite")
      }),
      ({ SqliteClient }) => SqliteClient.layer({ filename })
    )
  )).pipe(
    Layer.catchAllCause((cause) =>
      Layer.fail(Cause.isFailType(cause) && cause.error instanceof CliError ? cause.error : unreachable(cause))
    )
  )
}

/** Fails unless every migration of this version of the library was applied. */
const migrated = Effect.flatMap(
  Effect.mapError(
    Migrations.pending,
    (error) => new CliError({ message: `cannot read the migrations: ${describe(error)}` })
  ),
  (pending) =>
    pending.length === 0 ? Effect.void : Effect.fail(
      new CliError({
        message: pending.length === Migrations.names.length
          ? "the database has no effect-ddd tables: run effect-ddd migrate"
          : `${pending.length} migration(s) pending (${pending.join(", ")}): run effect-ddd migrate`
      })
    )
)

/**
 * The stores on a migrated database, with the client for what only SQL can do (waking relays on
 * PostgreSQL).
 */
export const stores = (target: Target): Layer.Layer<SqlEventStore.Stores | SqlClient.SqlClient, CliError> =>
  SqlEventStore.layerWithoutMigrations({ groupCommit: false }).pipe(
    Layer.provideMerge(Layer.effectDiscard(migrated).pipe(Layer.provideMerge(client(target, { create: false }))))
  )
