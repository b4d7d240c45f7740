/**
 * The stores the library's ports name, for tests that read them directly.
 */
import { Effect } from "effect"
import {
  Checkpoints,
  DeadLetters,
  Deadlines,
  type EventStore,
  Inbox,
  type Relay,
  SubscriptionRegistry
} from "effect-ddd"

/** Every store an adapter provides. */
export type Stores = EventStore.EventStore | Relay.Stores

/** The delivery stores, by the names tests use for them. */
export const delivery = Effect.all({
  checkpoints: Checkpoints.Checkpoints,
  deadLetters: DeadLetters.DeadLetters,
  deadlines: Deadlines.Deadlines,
  inbox: Inbox.Inbox,
  registry: SubscriptionRegistry.SubscriptionRegistry
})
