/**
 * The persistence port: streams of events per aggregate, state rows (or snapshots), the global
 * event log the relay reads, and idempotency records — all behind one transaction boundary, so a
 * command's state, events and stored result commit together or not at all.
 *
 * Adapters work with encoded (JSON-safe) values; schemas are applied by the command handler.
 *
 * @since 0.1.0
 * @module
 */
import type { Effect } from "effect"
import { Context, type Option, Schema } from "effect"
import type * as DomainEvent from "../core/DomainEvent.js"

/**
 * Another writer changed the aggregate since it was loaded.
 *
 * @since 0.1.0
 * @category errors
 */
export class ConcurrencyConflict extends Schema.TaggedError<ConcurrencyConflict>()("ConcurrencyConflict", {
  aggregateType: Schema.String,
  aggregateId: Schema.String,
  expectedVersion: Schema.Number
}) {
  override get message() {
    return `${this.aggregateType} ${this.aggregateId} was changed concurrently (expected version ${this.expectedVersion})`
  }
}

/**
 * The store failed. `reason` says how: `Unavailable` (connection, timeout — worth retrying later),
 * `Constraint` (a constraint other than the optimistic version check), `Decode` (a stored row is
 * unreadable), `Unknown`.
 *
 * @since 0.1.0
 * @category errors
 */
export class EventStoreError extends Schema.TaggedError<EventStoreError>()("EventStoreError", {
  reason: Schema.Literal("Unavailable", "Constraint", "Decode", "Unknown"),
  detail: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {
  override get message() {
    return `event store ${this.reason}: ${this.detail}`
  }
}

/**
 * A state row (state-stored aggregates) or a snapshot (event-sourced ones): the encoded state as
 * of `version`.
 *
 * @since 0.1.0
 * @category models
 */
export interface StoredState {
  readonly version: number
  readonly state: unknown
}

/**
 * What a command appends: its events for one aggregate, the version they follow, and optionally
 * the new state row or a snapshot.
 *
 * @since 0.1.0
 * @category models
 */
export interface AppendRequest {
  readonly aggregateType: string
  readonly aggregateId: string
  readonly expectedVersion: number
  readonly events: ReadonlyArray<DomainEvent.Unsaved>
  /** Written with the events; replaces the previous state row or snapshot. */
  readonly state?: StoredState | undefined
}

/**
 * A place in the global event log. Events are read in (commit order, position) order: on
 * PostgreSQL positions are assigned at insert, not at commit, so the commit order comes first; on
 * SQLite and in memory it is always 0.
 *
 * @since 0.1.0
 * @category models
 */
export interface LogCursor {
  readonly commitOrder: number
  readonly position: number
}

/**
 * The cursor before the first event.
 *
 * @since 0.1.0
 * @category constructors
 */
export const logStart: LogCursor = { commitOrder: 0, position: 0 }

/**
 * An event read from the global log, with its commit order.
 *
 * @since 0.1.0
 * @category models
 */
export interface LoggedEvent extends DomainEvent.Stored {
  readonly commitOrder: number
}

/**
 * The cursor just after an event.
 *
 * @since 0.1.0
 * @category constructors
 */
export const cursorOf = (event: LoggedEvent): LogCursor => ({
  commitOrder: event.commitOrder,
  position: event.position
})

/**
 * A page of the log (`EventStore.readPage`): the events, and where the next read starts.
 *
 * @since 0.1.0
 * @category models
 */
export interface LogPage {
  readonly events: ReadonlyArray<LoggedEvent>
  readonly next: LogCursor
  /**
   * Events past the safe horizon exist (PostgreSQL): committed or not, they are not readable yet,
   * and may become readable without any new commit once older transactions end.
   */
  readonly heldBack?: boolean
}

/**
 * Whether a cursor comes after another in the log's order.
 *
 * @since 0.1.0
 * @category guards
 */
export const isAfter = (cursor: LogCursor, other: LogCursor): boolean =>
  cursor.commitOrder > other.commitOrder ||
  (cursor.commitOrder === other.commitOrder && cursor.position > other.position)

/**
 * Which events of the log to read: those of some aggregate types (optionally only some event
 * types of each), and of one partition (aggregates spread by a hash of their id).
 *
 * @since 0.1.0
 * @category models
 */
export interface LogFilter {
  readonly sources?: ReadonlyArray<{ readonly aggregateType: string; readonly eventTypes: ReadonlyArray<string> }>
  readonly partition?: { readonly count: number; readonly index: number }
}

/**
 * Whether a filter selects an event.
 *
 * @since 0.1.0
 * @category guards
 */
export const matches = (filter: LogFilter | undefined, event: DomainEvent.Stored): boolean => {
  if (filter === undefined) return true
  if (
    filter.sources !== undefined &&
    !filter.sources.some((source) =>
      source.aggregateType === event.aggregateType &&
      (source.eventTypes.length === 0 || source.eventTypes.includes(event.eventType))
    )
  ) return false
  return filter.partition === undefined ||
    streamHash(event.aggregateId) % filter.partition.count === filter.partition.index
}

/**
 * A stable 31-bit hash (FNV-1a) of an aggregate id: partitions are `streamHash(id) % count`.
 *
 * @since 0.1.0
 * @category combinators
 */
export const streamHash = (aggregateId: string): number => {
  let hash = 0x811c9dc5
  for (let i = 0; i < aggregateId.length; i++) {
    hash ^= aggregateId.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193)
  }
  return (hash >>> 0) & 0x7fffffff
}

/**
 * What remains of the log after a cursor: how many events (of a filter) and when the oldest of
 * them occurred. Everything committed counts, also events not yet readable in commit-safe order.
 *
 * @since 0.1.0
 * @category models
 */
export interface Backlog {
  readonly count: number
  /** `occurredAt` (epoch milliseconds) of the oldest event; undefined when there is none. */
  readonly oldestOccurredAt: number | undefined
}

/**
 * The stored result of a command executed with an idempotency key.
 *
 * @since 0.1.0
 * @category models
 */
export interface IdempotencyRecord {
  readonly key: string
  /** Identifies the request; a repeat of the key with another fingerprint is refused. */
  readonly fingerprint: string
  readonly aggregateType: string
  readonly aggregateId: string
  /** The encoded result. */
  readonly result: unknown
  /** Epoch milliseconds. */
  readonly createdAt: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** Events of one aggregate with a version above `afterVersion`, in version order. */
  readonly readStream: (
    aggregateType: string,
    aggregateId: string,
    afterVersion: number
  ) => Effect.Effect<ReadonlyArray<DomainEvent.Stored>, EventStoreError>
  /** The state row or snapshot of an aggregate. */
  readonly readState: (
    aggregateType: string,
    aggregateId: string
  ) => Effect.Effect<Option.Option<StoredState>, EventStoreError>
  /**
   * Append events expecting the aggregate to be at `expectedVersion`; returns them with their
   * positions. Fails with `ConcurrencyConflict` when another writer got there first.
   */
  readonly append: (
    request: AppendRequest
  ) => Effect.Effect<ReadonlyArray<DomainEvent.Stored>, ConcurrencyConflict | EventStoreError>
  /**
   * At most `limit` events of all aggregates after a cursor, in commit-safe order: only events
   * that every later read will also see, so a reader following the cursor never skips one.
   */
  readonly readAll: (
    after: LogCursor,
    limit: number,
    filter?: LogFilter
  ) => Effect.Effect<ReadonlyArray<LoggedEvent>, EventStoreError>
  /**
   * `readAll` for a reader that follows the log: with the cursor to read after next time. When
   * the page is full, that is the cursor after its last event; otherwise the cursor after
   * everything the read could see, matching the filter or not, so a reader of rare events does
   * not scan the same stretch of the log again at every read.
   */
  readonly readPage: (
    after: LogCursor,
    limit: number,
    filter?: LogFilter
  ) => Effect.Effect<LogPage, EventStoreError>
  /** The committed events after a cursor (of a filter): a subscription's lag and its oldest undelivered event. */
  readonly backlog: (after: LogCursor, filter?: LogFilter) => Effect.Effect<Backlog, EventStoreError>
  /**
   * The cursor just before the first event at or after `position`: reading after it returns that
   * event and everything that follows it in the log's order. None when no event is there.
   */
  readonly cursorBefore: (position: number) => Effect.Effect<Option.Option<LogCursor>, EventStoreError>
  /** The stored result of a command executed with this idempotency key, if any. */
  readonly findIdempotencyRecord: (key: string) => Effect.Effect<Option.Option<IdempotencyRecord>, EventStoreError>
  /** Fails with `ConcurrencyConflict` if the key was stored concurrently. */
  readonly saveIdempotencyRecord: (
    record: IdempotencyRecord
  ) => Effect.Effect<void, ConcurrencyConflict | EventStoreError>
  /**
   * True when `append` outside a transaction is atomic on its own and cheaper than an explicit
   * transaction (one statement on PostgreSQL): a command that writes nothing else then runs
   * without one, relying on the expected version alone.
   */
  readonly atomicAppend?: boolean
  /** Whether the current fiber runs inside one of this store's transactions. */
  readonly inTransaction?: Effect.Effect<boolean>
  /**
   * Run an effect outside any transaction with all its statements on one connection of the store's,
   * each committing on its own: one connection taken from the pool instead of one per statement.
   * Used for commands whose only write is an atomic `append` (see `atomicAppend`).
   */
  readonly withSession?: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | EventStoreError, R>
  /**
   * Run an effect in one transaction: everything it writes through this store commits together,
   * or nothing does (on failure, defect or interruption). Nested calls are savepoints.
   */
  readonly withTransaction: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | EventStoreError, R>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class EventStore extends Context.Tag("effect-ddd/EventStore")<EventStore, Service>() {}
