import { PgClient } from "@effect/sql-pg"
import { Effect, Layer, Redacted } from "effect"
import { freshDatabase } from "./database.js"

/** A PostgreSQL client on a new, empty database of the test server. */
export const pgClient = (name: string, options: { readonly maxConnections?: number } = {}) =>
  Layer.unwrapEffect(
    Effect.map(Effect.promise(() => freshDatabase(name)), (url) =>
      PgClient.layer({ url: Redacted.make(url), maxConnections: options.maxConnections ?? 20 }))
  )
