/**
 * Where delivery stands: per delivery (a subscription, a projection, a process manager's
 * dispatcher, a publication) and partition, the checkpoint — how far the log has been delivered —
 * and the lease that says which process delivers it. A lease's token grows with every change of
 * hands and fences checkpoint writes, so a process that lost its lease can never commit.
 *
 * Everything here joins the ambient transaction of `EventStore.withTransaction`, so a delivery's
 * effects and its checkpoint commit together.
 *
 * @since 0.1.0
 * @module
 */
import { Context, type Effect, type Option, Schema } from "effect"
import type { EventStoreError, LogCursor } from "./EventStore.js"

/**
 * The lease of a partition was taken over by another process (or fenced by a checkpoint reset):
 * this process must stop delivering it; its transaction is rolled back, nothing commits twice.
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
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** Where delivery of a partition stands (the start of the log if never delivered). */
  readonly get: (subscription: string, partition: number) => Effect.Effect<LogCursor, EventStoreError>
  /**
   * Move a checkpoint, if `token` still holds the partition's lease (fencing); run it in the
   * transaction of the deliveries it covers.
   */
  readonly save: (
    subscription: string,
    partition: number,
    cursor: LogCursor,
    token: number
  ) => Effect.Effect<void, LeaseLost | EventStoreError>
  /**
   * Move a checkpoint whoever holds the partition (an operator's replay), fencing the holder out:
   * the lease's token is incremented and the lease released, so the holder's next checkpoint
   * write fails with `LeaseLost`, and whoever takes the lease next reads the new checkpoint. On
   * PostgreSQL it waits for a delivery in flight to commit or roll back.
   */
  readonly reset: (subscription: string, partition: number, cursor: LogCursor) => Effect.Effect<void, EventStoreError>
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
}

/**
 * @since 0.1.0
 * @category tags
 */
export class Checkpoints extends Context.Tag("effect-ddd/Checkpoints")<Checkpoints, Service>() {}
