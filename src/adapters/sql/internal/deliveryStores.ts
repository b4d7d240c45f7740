/**
 * The delivery stores on SQL, sharing one `DeliveryQuery`: checkpoints and leases, dead letters,
 * deadlines, the inbox, the registry of subscriptions and projections' versions, in the tables of
 * the library's migrations `0004_outbox`, `0005_deadlines`, `0006_subscriptions` and
 * `0009_projections`.
 */
import type { SqlClient } from "@effect/sql"
import { Context, Effect, Layer } from "effect"
import { Checkpoints } from "../../../ports/Checkpoints.js"
import { DeadLetters } from "../../../ports/DeadLetters.js"
import { Deadlines } from "../../../ports/Deadlines.js"
import type { EventStore } from "../../../ports/EventStore.js"
import { Inbox } from "../../../ports/Inbox.js"
import { ProjectionVersions } from "../../../ports/ProjectionVersions.js"
import type { Pruning } from "../../../ports/Pruning.js"
import type { Stores } from "../../../ports/Stores.js"
import { SubscriptionRegistry } from "../../../ports/SubscriptionRegistry.js"
import * as checkpoints from "./checkpoints.js"
import * as deadLetters from "./deadLetters.js"
import * as deadlines from "./deadlines.js"
import * as DeliveryQuery from "./deliveryQuery.js"
import * as inbox from "./inbox.js"
import * as projectionVersions from "./projectionVersions.js"
import * as subscriptionRegistry from "./subscriptionRegistry.js"

/** Every store of the ports but the event store and pruning, which have SQL modules of their own. */
export type DeliveryStores = Exclude<Stores, EventStore | Pruning>

export const layer: Layer.Layer<DeliveryStores, never, SqlClient.SqlClient> = Layer.effectContext(
  Effect.map(DeliveryQuery.make, (q) =>
    Context.make(Checkpoints, checkpoints.make(q)).pipe(
      Context.add(DeadLetters, deadLetters.make(q)),
      Context.add(Deadlines, deadlines.make(q)),
      Context.add(Inbox, inbox.make(q)),
      Context.add(SubscriptionRegistry, subscriptionRegistry.make(q)),
      Context.add(ProjectionVersions, projectionVersions.make(q))
    ))
)
