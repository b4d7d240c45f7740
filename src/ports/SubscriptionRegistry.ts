/**
 * The registry of the deliveries relays run, recorded when a relay starts, so that tools outside
 * the application (the `effect-ddd` CLI) know what each one reads and can measure its lag.
 *
 * @since 0.1.0
 * @module
 */
import { Context, type Effect } from "effect"
import type { EventStoreError } from "./EventStore.js"

/**
 * An async subscription as a relay runs it.
 *
 * @since 0.1.0
 * @category models
 */
export interface SubscriptionInfo {
  readonly name: string
  /** `projection`: a read model, rebuilt by a replay; `handler`: effects happen again on a replay. */
  readonly kind: "handler" | "projection" | "publication"
  readonly partitions: number
  /** The events it reads: per aggregate type, some event types (all of them when empty). */
  readonly sources: ReadonlyArray<{ readonly aggregateType: string; readonly eventTypes: ReadonlyArray<string> }>
  /** Epoch milliseconds: when a relay last registered it. */
  readonly registeredAt: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** Record a subscription as a relay runs it, replacing what was recorded under its name. */
  readonly register: (info: SubscriptionInfo) => Effect.Effect<void, EventStoreError>
  /**
   * Forget a subscription no relay runs any more (a retired version of a projection), so that it
   * no longer holds pruning back nor shows in the CLI's reports.
   */
  readonly unregister: (name: string) => Effect.Effect<void, EventStoreError>
  /** The recorded subscriptions, by name. */
  readonly list: Effect.Effect<ReadonlyArray<SubscriptionInfo>, EventStoreError>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class SubscriptionRegistry
  extends Context.Tag("effect-ddd/SubscriptionRegistry")<SubscriptionRegistry, Service>()
{}
