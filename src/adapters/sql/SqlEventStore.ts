/**
 * The event store on SQL, over `@effect/sql`'s generic `SqlClient` (the application chooses the
 * driver: `@effect/sql-sqlite-node` embedded, `@effect/sql-pg` for many processes). One
 * `effect_ddd_events` table is both the event store and the outbox.
 *
 * `examples/sql-layers.ts`, SQLite by default and PostgreSQL when `DATABASE_URL` is set:
 * {@includeCode ../../../examples/sql-layers.ts}
 *
 * @since 0.1.0
 * @module
 */
import type { SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import { Cause, type Effect, Layer } from "effect"
import { EventStore, EventStoreError, type Service } from "../../ports/EventStore.js"
import type * as Outbox from "../../ports/Outbox.js"
import * as internal from "./internal/eventStore.js"
import * as Queries from "./internal/queries.js"
import * as Migrations from "./migrations.js"
import * as SqlOutbox from "./SqlOutbox.js"

/**
 * Turn a driver error into the port's error, with a reason.
 *
 * @since 0.1.0
 * @category errors
 */
export const toStoreError: (error: SqlError, detail?: string) => EventStoreError = Queries.toStoreError

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * Commit concurrent top-level transactions together, each in its own savepoint (default on).
   * `maxBatch`: most transactions per commit (default 64); `concurrency`: batches in flight at
   * once (default 1 on SQLite, which has one connection, and 4 on PostgreSQL). See
   * docs/performance.md for when transactions are batched.
   */
  readonly groupCommit?: false | { readonly maxBatch?: number; readonly concurrency?: number }
}

/**
 * The event store on the `SqlClient` in context (without running migrations).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<Service, never, SqlClient.SqlClient> =>
  internal.make(options)

/**
 * The SQL event store and outbox; runs the library's migrations first.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options = {}
): Layer.Layer<EventStore | Outbox.Outbox, EventStoreError, SqlClient.SqlClient> =>
  Layer.merge(Layer.effect(EventStore, make(options)), SqlOutbox.layerWithoutMigrations).pipe(
    Layer.provideMerge(
      Migrations.layer.pipe(
        Layer.catchAllCause((cause) =>
          Layer.fail(
            new EventStoreError({
              reason: "Unknown",
              detail: `migrations failed: ${Cause.pretty(cause)}`,
              cause: Cause.squash(cause)
            })
          )
        )
      )
    )
  )

/**
 * The SQL event store and outbox without running migrations (run `Migrations.run` yourself).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerWithoutMigrations = (
  options: Options = {}
): Layer.Layer<EventStore | Outbox.Outbox, never, SqlClient.SqlClient> =>
  Layer.merge(Layer.effect(EventStore, make(options)), SqlOutbox.layerWithoutMigrations)
