/**
 * The port that removes what a retention policy (`Retention`) lets go, a batch at a time: events
 * every subscription has delivered, expired idempotency records and inbox rows, finished
 * process-manager instances. It records, per aggregate type, how far events were removed, so that
 * a replay from before that point fails with `EventsPruned` instead of silently skipping them.
 *
 * What a subscription has not delivered is kept: a subscription that is paused or lags holds
 * pruning back (`heldBack` says which, since when). `Pruner` runs it in the background;
 * `effect-ddd prune` runs it once.
 *
 * @since 0.1.0
 * @module
 */
import { Context, Effect, type Option, Schema } from "effect"
import { type EventStoreError, isAfter, type LogCursor } from "./EventStore.js"
import type { Policy } from "./Retention.js"

/**
 * The tables pruning removes rows from.
 *
 * @since 0.1.0
 * @category models
 */
export type Table = "events" | "idempotency" | "inbox" | "processInstances"

/**
 * Every table, in the order a run prunes them (instances first: their events go with them).
 *
 * @since 0.1.0
 * @category models
 */
export const tables: ReadonlyArray<Table> = ["processInstances", "events", "idempotency", "inbox"]

/**
 * A subscription that holds back the removal of events it has not delivered.
 *
 * @since 0.1.0
 * @category models
 */
export interface HeldBack {
  readonly subscription: string
  readonly aggregateType: string
  /** Events old enough to go, kept because this subscription has not delivered them. */
  readonly events: number
  /** Epoch milliseconds since which the oldest of them could have gone. */
  readonly since: number
}

/**
 * What a prune would remove now (or removed), and what holds it back.
 *
 * @since 0.1.0
 * @category models
 */
export interface Plan {
  /** Rows removable now, per table (for `processInstances`: instances, with their events). */
  readonly removable: Readonly<Record<Table, number>>
  readonly heldBack: ReadonlyArray<HeldBack>
  /** When the oldest event kept occurred (epoch milliseconds); none when the log is empty. */
  readonly oldestEventKept: Option.Option<number>
}

/**
 * A replay (or a read) would start before events that were removed.
 *
 * @since 0.1.0
 * @category errors
 */
export class EventsPruned extends Schema.TaggedError<EventsPruned>()("EventsPruned", {
  aggregateType: Schema.String,
  /** The last position removed. */
  prunedThrough: Schema.Number,
  /** The position asked for. */
  from: Schema.Number
}) {
  override get message() {
    return `events of ${this.aggregateType} up to position ${this.prunedThrough} were pruned: ` +
      `a replay from position ${this.from} would miss them (replay from position ${this.prunedThrough + 1} or later)`
  }
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** The policy in force: the one configured, else the one recorded in the store, else the defaults. */
  readonly policy: Effect.Effect<Policy, EventStoreError>
  /** Record a policy in the store (what `effect-ddd prune` applies). */
  readonly record: (policy: Policy) => Effect.Effect<void, EventStoreError>
  /** The subscriptions holding back events old enough to go at `now` (epoch milliseconds). */
  readonly heldBack: (now: number) => Effect.Effect<ReadonlyArray<HeldBack>, EventStoreError>
  /** What could go at `now` (epoch milliseconds), without removing anything. */
  readonly plan: (now: number) => Effect.Effect<Plan, EventStoreError>
  /** Remove at most `limit` rows of `table` that may go at `now`, in one short transaction; how many went. */
  readonly pruneBatch: (table: Table, now: number, limit: number) => Effect.Effect<number, EventStoreError>
  /** Per aggregate type, the cursor of the last event removed. */
  readonly prunedThrough: Effect.Effect<ReadonlyMap<string, LogCursor>, EventStoreError>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class Pruning extends Context.Tag("effect-ddd/Pruning")<Pruning, Service>() {}

/**
 * Fail with `EventsPruned` when reading the log after `from` would miss pruned events of one of
 * `aggregateTypes` (a replay from before the pruned range).
 *
 * @since 0.1.0
 * @category combinators
 */
export const ensureReadable = (
  aggregateTypes: ReadonlyArray<string>,
  from: LogCursor
): Effect.Effect<void, EventsPruned | EventStoreError, Pruning> =>
  Effect.flatMap(Pruning, (pruning) =>
    Effect.flatMap(pruning.prunedThrough, (marks) => {
      for (const aggregateType of aggregateTypes) {
        const mark = marks.get(aggregateType)
        if (mark !== undefined && isAfter(mark, from)) {
          return Effect.fail(
            new EventsPruned({ aggregateType, prunedThrough: mark.position, from: from.position + 1 })
          )
        }
      }
      return Effect.void
    }))
