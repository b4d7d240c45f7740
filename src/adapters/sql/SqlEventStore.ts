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
import { Cause, Effect, Layer } from "effect"
import { EventStore, EventStoreError, type Service } from "../../ports/EventStore.js"
import { Pruning } from "../../ports/Pruning.js"
import type { Policy } from "../../ports/Retention.js"
import type { Stores as AllStores } from "../../ports/Stores.js"
import * as DeliveryQuery from "./internal/deliveryQuery.js"
import * as DeliveryStores from "./internal/deliveryStores.js"
import * as internal from "./internal/eventStore.js"
import * as SqlPruning from "./internal/pruning.js"
import * as Queries from "./internal/queries.js"
import * as Migrations from "./migrations.js"

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
  /**
   * The retention policy `Pruning` applies (`Retention.policy`), recorded in the database when the
   * layer starts so that `effect-ddd prune` applies it too. Without one, the recorded policy, else
   * the defaults (no events removed). See docs/data-lifecycle.md.
   */
  readonly retention?: Policy | undefined
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
 * Every store the library's ports name (`Stores` of the ports), as this adapter provides them.
 *
 * @since 0.1.0
 * @category models
 */
export type Stores = AllStores

/**
 * The SQL stores (the event store, and checkpoints, dead letters, deadlines, the inbox and the
 * registry of subscriptions over the same client, joining its transactions); runs the library's
 * migrations first.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options = {}
): Layer.Layer<Stores, EventStoreError, SqlClient.SqlClient> =>
  layerWithoutMigrations(options).pipe(
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
 * The SQL stores without running migrations (run `Migrations.run` yourself).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerWithoutMigrations = (
  options: Options = {}
): Layer.Layer<Stores, never, SqlClient.SqlClient> =>
  Layer.merge(
    pruningLayer(options.retention).pipe(Layer.provideMerge(Layer.effect(EventStore, make(options)))),
    DeliveryStores.layer
  )

/**
 * Pruning on the client, each batch in a transaction of the store's (so it queues with commands
 * and deliveries rather than waiting for the connection they keep); a configured policy is
 * recorded (a failure to is logged: the CLI then applies the last one recorded).
 */
const pruningLayer = (retention: Policy | undefined): Layer.Layer<Pruning, never, SqlClient.SqlClient | EventStore> =>
  Layer.effect(
    Pruning,
    Effect.tap(
      Effect.zipWith(
        DeliveryQuery.make,
        EventStore,
        (q, store) => SqlPruning.make(q, retention, store.withTransaction)
      ),
      (pruning) =>
        retention === undefined ? Effect.void : pruning.record(retention).pipe(
          Effect.catchAll((error) => Effect.logWarning("could not record the retention policy", error))
        )
    )
  )
