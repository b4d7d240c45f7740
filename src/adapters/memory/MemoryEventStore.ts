/**
 * In-memory stores with real all-or-nothing transactions (one writer at a time, like SQLite):
 * events, state rows, checkpoints, leases, dead letters, the inbox, deadlines and the registry of
 * subscriptions live in one transactional value. For unit tests, simulations and prototypes; they
 * pass the same contract suites as the SQL adapters.
 *
 * @since 0.1.0
 * @module
 */
import { Context, Effect, Layer } from "effect"
import { Checkpoints } from "../../ports/Checkpoints.js"
import { DeadLetters } from "../../ports/DeadLetters.js"
import { Deadlines } from "../../ports/Deadlines.js"
import { EventStore, type Service } from "../../ports/EventStore.js"
import { Inbox } from "../../ports/Inbox.js"
import { ProjectionVersions } from "../../ports/ProjectionVersions.js"
import { Pruning } from "../../ports/Pruning.js"
import type { Policy } from "../../ports/Retention.js"
import type { Stores as AllStores } from "../../ports/Stores.js"
import { SubscriptionRegistry } from "../../ports/SubscriptionRegistry.js"
import * as checkpoints from "./internal/checkpoints.js"
import * as deadLetters from "./internal/deadLetters.js"
import * as deadlines from "./internal/deadlines.js"
import * as eventStore from "./internal/eventStore.js"
import * as inbox from "./internal/inbox.js"
import * as projectionVersions from "./internal/projectionVersions.js"
import * as pruning from "./internal/pruning.js"
import * as subscriptionRegistry from "./internal/subscriptionRegistry.js"
import * as Tables from "./internal/tables.js"

/**
 * Every store the library's ports name (`Stores` of the ports), as this adapter provides them.
 *
 * @since 0.1.0
 * @category models
 */
export type Stores = AllStores

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The retention policy `Pruning` applies (`Retention.policy`); the defaults when absent. */
  readonly retention?: Policy | undefined
}

/**
 * The stores over one new in-memory database, as a context.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeStoresWith = (options: Options): Effect.Effect<Context.Context<Stores>> =>
  Effect.map(
    Tables.make,
    (db) =>
      Context.make(EventStore, eventStore.make(db)).pipe(
        Context.add(Checkpoints, checkpoints.make(db)),
        Context.add(DeadLetters, deadLetters.make(db)),
        Context.add(Deadlines, deadlines.make(db)),
        Context.add(Inbox, inbox.make(db)),
        Context.add(SubscriptionRegistry, subscriptionRegistry.make(db)),
        Context.add(ProjectionVersions, projectionVersions.make(db)),
        Context.add(Pruning, pruning.make(db, options.retention))
      )
  )

/**
 * The stores over one new in-memory database, as a context (the default retention policy).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeStores: Effect.Effect<Context.Context<Stores>> = makeStoresWith({})

/**
 * The in-memory event store alone.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<Service> = Effect.map(makeStores, Context.get(EventStore))

/**
 * The in-memory stores, sharing one transactional database.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<Stores> = Layer.effectContext(makeStores)

/**
 * The in-memory stores with options (a retention policy).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerWith = (options: Options): Layer.Layer<Stores> => Layer.effectContext(makeStoresWith(options))
