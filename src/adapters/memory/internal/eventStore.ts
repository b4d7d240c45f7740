/**
 * The event store over the in-memory database: streams, state rows, the log (positions in append
 * order; the commit order is always 0) and idempotency records.
 */
import { Chunk, Effect, HashMap, Option } from "effect"
import type * as DomainEvent from "../../../core/DomainEvent.js"
import {
  ConcurrencyConflict,
  type LogCursor,
  type LogFilter,
  type LoggedEvent,
  type LogPage,
  matches,
  type Service
} from "../../../ports/EventStore.js"
import { type Database, key, type Tables } from "./tables.js"

/** The stream's version: its last event's, or its state row's when pruning removed its events. */
const versionOf = (tables: Tables, stream: string): number =>
  Math.max(
    Option.match(HashMap.get(tables.streams, stream), {
      onNone: () => 0,
      onSome: (events) => Chunk.isEmpty(events) ? 0 : Chunk.unsafeLast(events).version
    }),
    Option.match(HashMap.get(tables.states, stream), { onNone: () => 0, onSome: (state) => state.version })
  )

/** Events after a cursor (the event at index `i` has position `i + 1`), and where the next read starts. */
const readLog = (
  log: Chunk.Chunk<DomainEvent.Stored | undefined>,
  after: LogCursor,
  limit: number,
  filter?: LogFilter
): LogPage => {
  const events: Array<LoggedEvent> = []
  let i = Math.max(0, after.position)
  for (; i < Chunk.size(log) && events.length < limit; i++) {
    const event = Chunk.unsafeGet(log, i)
    if (event !== undefined && matches(filter, event)) events.push({ ...event, commitOrder: 0 })
  }
  // the read stopped after its last event (a full page) or at the end of the log
  return { events, next: { commitOrder: 0, position: i } }
}

const backlogOf = (log: Chunk.Chunk<DomainEvent.Stored | undefined>, after: LogCursor, filter?: LogFilter) => {
  let count = 0
  let oldestOccurredAt: number | undefined
  for (let i = Math.max(0, after.position); i < Chunk.size(log); i++) {
    const event = Chunk.unsafeGet(log, i)
    if (event === undefined || !matches(filter, event)) continue
    count++
    if (oldestOccurredAt === undefined || event.occurredAt < oldestOccurredAt) oldestOccurredAt = event.occurredAt
  }
  return { count, oldestOccurredAt }
}

const appendTo = (
  tables: Tables,
  request: Parameters<Service["append"]>[0]
): readonly [ReadonlyArray<DomainEvent.Stored> | undefined, Tables] => {
  const stream = key(request.aggregateType, request.aggregateId)
  if (versionOf(tables, stream) !== request.expectedVersion) return [undefined, tables]
  let position = Chunk.size(tables.log)
  const events = request.events.map((event): DomainEvent.Stored => ({ ...event, position: ++position }))
  const existing = Option.getOrElse(HashMap.get(tables.streams, stream), () => Chunk.empty<DomainEvent.Stored>())
  return [events, {
    ...tables,
    streams: HashMap.set(tables.streams, stream, Chunk.appendAll(existing, Chunk.unsafeFromArray(events))),
    states: request.state === undefined ? tables.states : HashMap.set(tables.states, stream, request.state),
    log: Chunk.appendAll(tables.log, Chunk.unsafeFromArray(events))
  }]
}

export const make = (db: Database): Service => ({
  readStream: (aggregateType, aggregateId, afterVersion) =>
    Effect.map(db.get, (tables) =>
      Option.match(HashMap.get(tables.streams, key(aggregateType, aggregateId)), {
        onNone: () => [],
        onSome: (events) => Chunk.toReadonlyArray(Chunk.filter(events, (event) => event.version > afterVersion))
      })),
  readState: (aggregateType, aggregateId) =>
    Effect.map(db.get, (tables) => HashMap.get(tables.states, key(aggregateType, aggregateId))),
  append: (request) =>
    Effect.flatMap(db.modify((tables) => appendTo(tables, request)), (stored) =>
      stored === undefined
        ? Effect.fail(
          new ConcurrencyConflict({
            aggregateType: request.aggregateType,
            aggregateId: request.aggregateId,
            expectedVersion: request.expectedVersion
          })
        )
        : Effect.succeed(stored)),
  readAll: (after, limit, filter) => Effect.map(db.get, (tables) => readLog(tables.log, after, limit, filter).events),
  readPage: (after, limit, filter) => Effect.map(db.get, (tables) => readLog(tables.log, after, limit, filter)),
  backlog: (after, filter) => Effect.map(db.get, (tables) => backlogOf(tables.log, after, filter)),
  cursorBefore: (position) =>
    Effect.map(db.get, (tables) =>
      position > Chunk.size(tables.log)
        ? Option.none()
        : Option.some({ commitOrder: 0, position: Math.max(1, position) - 1 })),
  findIdempotencyRecord: (idempotencyKey) =>
    Effect.map(db.get, (tables) => HashMap.get(tables.idempotency, idempotencyKey)),
  saveIdempotencyRecord: (record) =>
    Effect.flatMap(
      db.modify((tables): readonly [boolean, Tables] =>
        HashMap.has(tables.idempotency, record.key)
          ? [false, tables]
          : [true, { ...tables, idempotency: HashMap.set(tables.idempotency, record.key, record) }]
      ),
      (saved) =>
        saved ? Effect.void : Effect.fail(
          new ConcurrencyConflict({
            aggregateType: record.aggregateType,
            aggregateId: record.aggregateId,
            expectedVersion: 0
          })
        )
    ),
  withTransaction: db.transaction
})
