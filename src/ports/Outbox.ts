/**
 * The delivery side of the outbox: per subscription and partition, the checkpoint (how far the
 * log has been delivered), the lease (which process delivers it), dead letters (what failed, and
 * what waits behind it), and the inbox (which events a consumer has already processed).
 *
 * Everything here joins the ambient transaction of `EventStore.withTransaction`, so a handler's
 * effects, the checkpoint and any dead letter commit together.
 *
 * @since 0.1.0
 * @module
 */
import { Context, type Effect, type Option, Schema } from "effect"
import type { EventStoreError, LogCursor } from "./EventStore.js"

/**
 * The lease of a partition was taken over by another process: this process must stop delivering
 * it (its transaction is rolled back, nothing is committed twice).
 *
 * @since 0.1.0
 * @category errors
 */
export class LeaseLost extends Schema.TaggedError<LeaseLost>()("LeaseLost", {
  subscription: Schema.String,
  partition: Schema.Number,
  token: Schema.Number
}) {
  override get message() {
    return `lease of ${this.subscription}/${this.partition} (token ${this.token}) was taken over`
  }
}

/**
 * No dead letter has this id.
 *
 * @since 0.1.0
 * @category errors
 */
export class DeadLetterNotFound extends Schema.TaggedError<DeadLetterNotFound>()("DeadLetterNotFound", {
  id: Schema.String
}) {
  override get message() {
    return `dead letter ${this.id} does not exist`
  }
}

/**
 * A lease on a partition: held by `owner` until `expiresAt`; `token` grows with every change of
 * owner and fences checkpoint writes.
 *
 * @since 0.1.0
 * @category models
 */
export interface Lease {
  readonly subscription: string
  readonly partition: number
  readonly owner: string
  readonly token: number
  /** Epoch milliseconds. */
  readonly expiresAt: number
}

/**
 * An event that could not be delivered to a subscription:
 * - `failed`: its handler failed after every retry;
 * - `poison`: its payload cannot be decoded (dead-lettered at once);
 * - `parked`: a later event of an aggregate whose earlier event is dead-lettered, held back so
 *   the aggregate's order holds.
 *
 * @since 0.1.0
 * @category models
 */
export interface DeadLetter {
  readonly id: string
  readonly subscription: string
  readonly partition: number
  readonly kind: "failed" | "poison" | "parked"
  readonly eventId: string
  readonly position: number
  readonly aggregateType: string
  readonly aggregateId: string
  readonly version: number
  readonly eventType: string
  readonly error: string
  readonly attempts: number
  /** Epoch milliseconds. */
  readonly firstFailedAt: number
  readonly lastFailedAt: number
  /** `redrive`: redelivery was requested and waits for the partition's owner. */
  readonly status: "open" | "redrive"
}

/**
 * @since 0.1.0
 * @category models
 */
export interface DeadLetterFilter {
  readonly subscription?: string | undefined
  readonly aggregateType?: string | undefined
  readonly aggregateId?: string | undefined
  readonly partition?: number | undefined
}

/**
 * A message a process manager scheduled for one of its instances, delivered once `dueAt` has
 * passed.
 *
 * @since 0.1.0
 * @category models
 */
export interface Deadline {
  readonly processManager: string
  readonly instanceId: string
  readonly name: string
  /** Epoch milliseconds. */
  readonly dueAt: number
}

/**
 * An async subscription as a relay runs it, recorded in the store when the relay starts, so that
 * tools outside the application (the `effect-ddd` CLI) know what it reads and can measure its lag.
 *
 * @since 0.1.0
 * @category models
 */
export interface SubscriptionInfo {
  readonly name: string
  /** `projection`: a read model, rebuilt by a replay; `handler`: effects happen again on a replay. */
  readonly kind: "handler" | "projection"
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
  /** Where delivery of a partition stands (the start of the log if never delivered). */
  readonly checkpoint: (subscription: string, partition: number) => Effect.Effect<LogCursor, EventStoreError>
  /**
   * Move a checkpoint, if `token` still holds the partition's lease (fencing); run it in the
   * transaction of the deliveries it covers.
   */
  readonly saveCheckpoint: (
    subscription: string,
    partition: number,
    cursor: LogCursor,
    token: number
  ) => Effect.Effect<void, LeaseLost | EventStoreError>
  /**
   * Take or renew the lease of a partition for `ttlMillis` from `now`: succeeds when it is free,
   * expired or already `owner`'s; a change of owner increments the token.
   */
  readonly acquireLease: (
    subscription: string,
    partition: number,
    owner: string,
    now: number,
    ttlMillis: number
  ) => Effect.Effect<Option.Option<Lease>, EventStoreError>
  /** Give a lease up (on shutdown) so another process can take it at once. */
  readonly releaseLease: (
    subscription: string,
    partition: number,
    owner: string
  ) => Effect.Effect<void, EventStoreError>
  /** The leases of a subscription (of all of them without one), by subscription and partition. */
  readonly leases: (subscription?: string) => Effect.Effect<ReadonlyArray<Lease>, EventStoreError>
  /**
   * Move a checkpoint whoever holds the partition (an operator's replay), fencing the holder out:
   * the lease's token is incremented and the lease released, so the holder's next checkpoint
   * write fails with `LeaseLost`, and whoever takes the lease next reads the new checkpoint. On
   * PostgreSQL it waits for a delivery in flight to commit or roll back.
   */
  readonly resetCheckpoint: (
    subscription: string,
    partition: number,
    cursor: LogCursor
  ) => Effect.Effect<void, EventStoreError>
  /** Record a subscription as a relay runs it, replacing what was recorded under its name. */
  readonly registerSubscription: (info: SubscriptionInfo) => Effect.Effect<void, EventStoreError>
  /** The recorded subscriptions, by name. */
  readonly subscriptions: Effect.Effect<ReadonlyArray<SubscriptionInfo>, EventStoreError>
  /** Record a dead letter, replacing one with the same id. */
  readonly addDeadLetter: (deadLetter: DeadLetter) => Effect.Effect<void, EventStoreError>
  /** Dead letters matching a filter, by position. */
  readonly deadLetters: (filter: DeadLetterFilter) => Effect.Effect<ReadonlyArray<DeadLetter>, EventStoreError>
  /** One dead letter by id. */
  readonly deadLetter: (id: string) => Effect.Effect<Option.Option<DeadLetter>, EventStoreError>
  /** Mark a dead letter `redrive` (its partition's owner redelivers it) or back `open`. */
  readonly setDeadLetterStatus: (
    id: string,
    status: DeadLetter["status"]
  ) => Effect.Effect<void, DeadLetterNotFound | EventStoreError>
  /** Remove dead letters (delivered by a redrive, or discarded); unknown ids are ignored. */
  readonly deleteDeadLetters: (ids: ReadonlyArray<string>) => Effect.Effect<void, EventStoreError>
  /**
   * Record that `consumer` processed `eventId`; false if it already had (the inbox of handlers
   * whose effects are outside the database, or that must be idempotent on their own).
   */
  readonly markProcessed: (consumer: string, eventId: string) => Effect.Effect<boolean, EventStoreError>
  /** Replace the pending deadlines of a process manager's instance (none: cancel them all). */
  readonly setDeadlines: (
    processManager: string,
    instanceId: string,
    deadlines: ReadonlyArray<{ readonly name: string; readonly dueAt: number }>
  ) => Effect.Effect<void, EventStoreError>
  /** At most `limit` deadlines of a process manager due at `now` or earlier, earliest first. */
  readonly dueDeadlines: (
    processManager: string,
    now: number,
    limit: number
  ) => Effect.Effect<ReadonlyArray<Deadline>, EventStoreError>
  /** When the next deadline of a process manager is due, if any. */
  readonly nextDeadline: (processManager: string) => Effect.Effect<Option.Option<number>, EventStoreError>
  /**
   * Remove a deadline before delivering it: false when it is gone or was rescheduled (another
   * process delivered it, or its instance changed it), so it is delivered once.
   */
  readonly claimDeadline: (deadline: Deadline) => Effect.Effect<boolean, EventStoreError>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class Outbox extends Context.Tag("effect-ddd/Outbox")<Outbox, Service>() {}
