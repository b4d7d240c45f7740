/**
 * How far every subscription reading an aggregate type has delivered: the slowest checkpoint of
 * the slowest reader (a partition never checkpointed is at the start of the log). Events at or
 * below it are delivered everywhere; a type no recorded subscription reads has no horizon.
 */
import { isAfter, type LogCursor, logStart } from "../EventStore.js"
import type { SubscriptionInfo } from "../SubscriptionRegistry.js"

export interface CheckpointRow {
  readonly subscription: string
  readonly partition: number
  readonly cursor: LogCursor
}

export interface Horizons {
  /** The horizon of an aggregate type (everything when nothing reads it). */
  readonly of: (aggregateType: string) => LogCursor
  /** The subscriptions reading an aggregate type, each with its slowest partition's checkpoint. */
  readonly readers: (aggregateType: string) => ReadonlyArray<readonly [string, LogCursor]>
}

/** Beyond every event. */
export const end: LogCursor = { commitOrder: Number.MAX_SAFE_INTEGER, position: Number.MAX_SAFE_INTEGER }

/** The earlier of two cursors. */
export const min = (a: LogCursor, b: LogCursor): LogCursor => (isAfter(a, b) ? b : a)

/** The last of some cursors, if any. */
export const last = (cursors: ReadonlyArray<LogCursor>): LogCursor | undefined =>
  cursors.reduce<LogCursor | undefined>((a, b) => (a === undefined || isAfter(b, a) ? b : a), undefined)

export const make = (subscriptions: ReadonlyArray<SubscriptionInfo>, rows: ReadonlyArray<CheckpointRow>): Horizons => {
  const saved = new Map(rows.map((r) => [`${r.subscription}\u0000${r.partition}`, r.cursor]))
  const slowest = new Map<string, LogCursor>()
  for (const s of subscriptions) {
    let cursor = end
    for (let partition = 0; partition < s.partitions; partition++) {
      cursor = min(cursor, saved.get(`${s.name}\u0000${partition}`) ?? logStart)
    }
    slowest.set(s.name, cursor)
  }
  const readers = (aggregateType: string) =>
    subscriptions
      .filter((s) => s.sources.some((source) => source.aggregateType === aggregateType))
      .map((s) => [s.name, slowest.get(s.name)!] as const)
  return {
    of: (aggregateType) => readers(aggregateType).reduce((h, [, cursor]) => min(h, cursor), end),
    readers
  }
}
