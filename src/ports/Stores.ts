/**
 * Every store the library's ports name: what a storage adapter provides together
 * (`MemoryEventStore.layer`, `SqlEventStore.layer`), and what a relay, a command handler and their
 * tools find in one place. A new port joins this union once, and every adapter's layer type
 * follows.
 *
 * @since 0.1.0
 * @module
 */
import type { Checkpoints } from "./Checkpoints.js"
import type { DeadLetters } from "./DeadLetters.js"
import type { Deadlines } from "./Deadlines.js"
import type { EventStore } from "./EventStore.js"
import type { Inbox } from "./Inbox.js"
import type { ProjectionVersions } from "./ProjectionVersions.js"
import type { Pruning } from "./Pruning.js"
import type { SubscriptionRegistry } from "./SubscriptionRegistry.js"

/**
 * The services of every store port.
 *
 * @since 0.1.0
 * @category models
 */
export type Stores =
  | EventStore
  | Checkpoints
  | DeadLetters
  | Deadlines
  | Inbox
  | SubscriptionRegistry
  | ProjectionVersions
  | Pruning
