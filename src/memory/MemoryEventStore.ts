/**
 * An in-memory event store with real all-or-nothing transactions (one writer at a time, like
 * SQLite). For unit tests and prototypes; it passes the same contract suite as the SQL stores.
 *
 * @since 0.1.0
 */
import { Chunk, Effect, HashMap, Layer, Option } from "effect"
import type * as DomainEvent from "../DomainEvent.js"
import {
  ConcurrencyConflict,
  EventStore,
  type IdempotencyRecord,
  type Service,
  type StoredState
} from "../EventStore.js"
import * as TransactionalRef from "../internal/transactionalRef.js"

interface Tables {
  readonly streams: HashMap.HashMap<string, Chunk.Chunk<DomainEvent.Stored>>
  readonly states: HashMap.HashMap<string, StoredState>
  readonly log: Chunk.Chunk<DomainEvent.Stored>
  readonly idempotency: HashMap.HashMap<string, IdempotencyRecord>
}

const streamKey = (aggregateType: string, aggregateId: string) => `${aggregateType}\u0000${aggregateId}`

const versionOf = (tables: Tables, key: string): number =>
  Option.match(HashMap.get(tables.streams, key), {
    onNone: () => 0,
    onSome: (events) => Chunk.isEmpty(events) ? 0 : Chunk.unsafeLast(events).version
  })

/**
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<Service> = Effect.gen(function*() {
  const db = yield* TransactionalRef.make<Tables>({
    streams: HashMap.empty(),
    states: HashMap.empty(),
    log: Chunk.empty(),
    idempotency: HashMap.empty()
  })

  const service: Service = {
    readStream: (aggregateType, aggregateId, afterVersion) =>
      Effect.map(db.get, (tables) =>
        Option.match(HashMap.get(tables.streams, streamKey(aggregateType, aggregateId)), {
          onNone: () => [],
          onSome: (events) => Chunk.toReadonlyArray(Chunk.drop(events, afterVersion))
        })),
    readState: (aggregateType, aggregateId) =>
      Effect.map(db.get, (tables) => HashMap.get(tables.states, streamKey(aggregateType, aggregateId))),
    append: (request) =>
      db.transaction(Effect.gen(function*() {
        const key = streamKey(request.aggregateType, request.aggregateId)
        const stored = yield* db.modify((tables): readonly [ReadonlyArray<DomainEvent.Stored> | undefined, Tables] => {
          if (versionOf(tables, key) !== request.expectedVersion) return [undefined, tables]
          let position = Chunk.size(tables.log)
          const events = request.events.map((event): DomainEvent.Stored => ({ ...event, position: ++position }))
          const stream = Option.getOrElse(HashMap.get(tables.streams, key), () => Chunk.empty<DomainEvent.Stored>())
          return [events, {
            streams: HashMap.set(tables.streams, key, Chunk.appendAll(stream, Chunk.unsafeFromArray(events))),
            states: request.state === undefined ? tables.states : HashMap.set(tables.states, key, request.state),
            log: Chunk.appendAll(tables.log, Chunk.unsafeFromArray(events)),
            idempotency: tables.idempotency
          }]
        })
        if (stored === undefined) {
          return yield* new ConcurrencyConflict({
            aggregateType: request.aggregateType,
            aggregateId: request.aggregateId,
            expectedVersion: request.expectedVersion
          })
        }
        return stored
      })),
    readAll: (after, limit) =>
      Effect.map(db.get, (tables) =>
        Chunk.toReadonlyArray(Chunk.take(Chunk.drop(tables.log, Math.max(0, after.position)), limit)).map((event) => ({
          ...event,
          commitOrder: 0
        }))),
    findIdempotencyRecord: (key) => Effect.map(db.get, (tables) => HashMap.get(tables.idempotency, key)),
    saveIdempotencyRecord: (record) =>
      Effect.flatMap(
        db.modify((tables): readonly [boolean, Tables] =>
          HashMap.has(tables.idempotency, record.key)
            ? [false, tables]
            : [true, { ...tables, idempotency: HashMap.set(tables.idempotency, record.key, record) }]
        ),
        (saved) =>
          saved ? Effect.void : Effect.fail(
            new ConcurrencyConflict({ aggregateType: record.aggregateType, aggregateId: record.aggregateId, expectedVersion: 0 })
          )
      ),
    withTransaction: db.transaction
  }
  return service
})

/**
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<EventStore> = Layer.effect(EventStore, make)
