/**
 * An in-memory event store and outbox with real all-or-nothing transactions (one writer at a
 * time, like SQLite): events, state rows, checkpoints, leases, dead letters and the inbox live in
 * one transactional value. For unit tests and prototypes; it passes the same contract suites as
 * the SQL adapters.
 *
 * @since 0.1.0
 * @module
 */
import { Chunk, Context, Effect, HashMap, HashSet, Layer, Option } from "effect"
import type * as DomainEvent from "../../core/DomainEvent.js"
import {
  ConcurrencyConflict,
  EventStore,
  type IdempotencyRecord,
  type LogCursor,
  type LogFilter,
  type LoggedEvent,
  type LogPage,
  logStart,
  matches,
  type Service,
  type StoredState
} from "../../ports/EventStore.js"
import * as Outbox from "../../ports/Outbox.js"
import * as TransactionalRef from "./internal/transactionalRef.js"

interface Tables {
  readonly streams: HashMap.HashMap<string, Chunk.Chunk<DomainEvent.Stored>>
  readonly states: HashMap.HashMap<string, StoredState>
  readonly log: Chunk.Chunk<DomainEvent.Stored>
  readonly idempotency: HashMap.HashMap<string, IdempotencyRecord>
  readonly checkpoints: HashMap.HashMap<string, LogCursor>
  readonly leases: HashMap.HashMap<string, Outbox.Lease>
  readonly deadLetters: HashMap.HashMap<string, Outbox.DeadLetter>
  readonly inbox: HashSet.HashSet<string>
  /** By process manager, then `instanceId\u0000name`. */
  readonly deadlines: HashMap.HashMap<string, HashMap.HashMap<string, Outbox.Deadline>>
  readonly subscriptions: HashMap.HashMap<string, Outbox.SubscriptionInfo>
}

const streamKey = (aggregateType: string, aggregateId: string) => `${aggregateType}\u0000${aggregateId}`

const versionOf = (tables: Tables, key: string): number =>
  Option.match(HashMap.get(tables.streams, key), {
    onNone: () => 0,
    onSome: (events) => Chunk.isEmpty(events) ? 0 : Chunk.unsafeLast(events).version
  })

/** Events after a cursor (the event at index `i` has position `i + 1`), and where the next read starts. */
const readLog = (
  log: Chunk.Chunk<DomainEvent.Stored>,
  after: LogCursor,
  limit: number,
  filter?: LogFilter
): LogPage => {
  const events: Array<LoggedEvent> = []
  let i = Math.max(0, after.position)
  for (; i < Chunk.size(log) && events.length < limit; i++) {
    const event = Chunk.unsafeGet(log, i)
    if (matches(filter, event)) events.push({ ...event, commitOrder: 0 })
  }
  // the read stopped after its last event (a full page) or at the end of the log
  return { events, next: { commitOrder: 0, position: i } }
}

const deadlineKey = (instanceId: string, name: string) => `${instanceId}\u0000${name}`

const deadlinesOf = (tables: Tables, processManager: string): Array<Outbox.Deadline> =>
  Option.match(HashMap.get(tables.deadlines, processManager), {
    onNone: () => [],
    onSome: (mine) =>
      Array.from(HashMap.values(mine)).sort((a, b) =>
        a.dueAt - b.dueAt || a.instanceId.localeCompare(b.instanceId) || a.name.localeCompare(b.name)
      )
  })

const partitionKey = (subscription: string, partition: number) => `${subscription}\u0000${partition}`

/**
 * The event store and the outbox over one in-memory database.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeStores: Effect.Effect<{ readonly eventStore: Service; readonly outbox: Outbox.Service }> = Effect.gen(
  function*() {
    const db = yield* TransactionalRef.make<Tables>({
      streams: HashMap.empty(),
      states: HashMap.empty(),
      log: Chunk.empty(),
      idempotency: HashMap.empty(),
      checkpoints: HashMap.empty(),
      leases: HashMap.empty(),
      deadLetters: HashMap.empty(),
      inbox: HashSet.empty(),
      deadlines: HashMap.empty(),
      subscriptions: HashMap.empty()
    })

    const service: Service = {
      readStream: (aggregateType, aggregateId, afterVersion) =>
        Effect.map(
          db.get,
          (tables) =>
            Option.match(HashMap.get(tables.streams, streamKey(aggregateType, aggregateId)), {
              onNone: () => [],
              onSome: (events) => Chunk.toReadonlyArray(Chunk.drop(events, afterVersion))
            })
        ),
      readState: (aggregateType, aggregateId) =>
        Effect.map(db.get, (tables) => HashMap.get(tables.states, streamKey(aggregateType, aggregateId))),
      append: (request) =>
        db.transaction(Effect.gen(function*() {
          const key = streamKey(request.aggregateType, request.aggregateId)
          const stored = yield* db.modify(
            (tables): readonly [ReadonlyArray<DomainEvent.Stored> | undefined, Tables] => {
              if (versionOf(tables, key) !== request.expectedVersion) return [undefined, tables]
              let position = Chunk.size(tables.log)
              const events = request.events.map((event): DomainEvent.Stored => ({ ...event, position: ++position }))
              const stream = Option.getOrElse(HashMap.get(tables.streams, key), () => Chunk.empty<DomainEvent.Stored>())
              return [events, {
                ...tables,
                streams: HashMap.set(tables.streams, key, Chunk.appendAll(stream, Chunk.unsafeFromArray(events))),
                states: request.state === undefined ? tables.states : HashMap.set(tables.states, key, request.state),
                log: Chunk.appendAll(tables.log, Chunk.unsafeFromArray(events))
              }]
            }
          )
          if (stored === undefined) {
            return yield* new ConcurrencyConflict({
              aggregateType: request.aggregateType,
              aggregateId: request.aggregateId,
              expectedVersion: request.expectedVersion
            })
          }
          return stored
        })),
      readAll: (after, limit, filter) =>
        Effect.map(db.get, (tables) => readLog(tables.log, after, limit, filter).events),
      readPage: (after, limit, filter) => Effect.map(db.get, (tables) => readLog(tables.log, after, limit, filter)),
      backlog: (after, filter) =>
        Effect.map(db.get, (tables) => {
          let count = 0
          let oldestOccurredAt: number | undefined
          for (let i = Math.max(0, after.position); i < Chunk.size(tables.log); i++) {
            const event = Chunk.unsafeGet(tables.log, i)
            if (!matches(filter, event)) continue
            count++
            if (oldestOccurredAt === undefined || event.occurredAt < oldestOccurredAt) {
              oldestOccurredAt = event.occurredAt
            }
          }
          return { count, oldestOccurredAt }
        }),
      cursorBefore: (position) =>
        Effect.map(db.get, (tables) =>
          position > Chunk.size(tables.log)
            ? Option.none()
            : Option.some({ commitOrder: 0, position: Math.max(1, position) - 1 })),
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
              new ConcurrencyConflict({
                aggregateType: record.aggregateType,
                aggregateId: record.aggregateId,
                expectedVersion: 0
              })
            )
        ),
      withTransaction: db.transaction
    }

    const update = (f: (tables: Tables) => Tables) => db.modify((tables) => [undefined, f(tables)] as const)
    const outbox: Outbox.Service = {
      checkpoint: (subscription, partition) =>
        Effect.map(
          db.get,
          (tables) =>
            Option.getOrElse(HashMap.get(tables.checkpoints, partitionKey(subscription, partition)), () => logStart)
        ),
      saveCheckpoint: (subscription, partition, cursor, token) =>
        db.transaction(Effect.flatMap(db.get, (tables) => {
          const key = partitionKey(subscription, partition)
          const lease = HashMap.get(tables.leases, key)
          if (Option.isNone(lease) || lease.value.token !== token) {
            return Effect.fail(new Outbox.LeaseLost({ subscription, partition, token }))
          }
          return update((t) => ({ ...t, checkpoints: HashMap.set(t.checkpoints, key, cursor) }))
        })),
      acquireLease: (subscription, partition, owner, now, ttlMillis) =>
        db.modify((tables): readonly [Option.Option<Outbox.Lease>, Tables] => {
          const key = partitionKey(subscription, partition)
          const current = HashMap.get(tables.leases, key)
          let lease: Outbox.Lease
          if (Option.isNone(current)) {
            lease = { subscription, partition, owner, token: 1, expiresAt: now + ttlMillis }
          } else if (current.value.owner === owner) {
            lease = { ...current.value, expiresAt: now + ttlMillis }
          } else if (current.value.expiresAt <= now) {
            lease = { subscription, partition, owner, token: current.value.token + 1, expiresAt: now + ttlMillis }
          } else {
            return [Option.none(), tables]
          }
          return [Option.some(lease), { ...tables, leases: HashMap.set(tables.leases, key, lease) }]
        }),
      releaseLease: (subscription, partition, owner) =>
        update((tables) => {
          const key = partitionKey(subscription, partition)
          const current = HashMap.get(tables.leases, key)
          return Option.isSome(current) && current.value.owner === owner
            ? { ...tables, leases: HashMap.set(tables.leases, key, { ...current.value, expiresAt: 0 }) }
            : tables
        }),
      leases: (subscription) =>
        Effect.map(db.get, (tables) =>
          Array.from(HashMap.values(tables.leases))
            .filter((lease) => subscription === undefined || lease.subscription === subscription)
            .sort((a, b) => a.subscription.localeCompare(b.subscription) || a.partition - b.partition)),
      resetCheckpoint: (subscription, partition, cursor) =>
        update((tables) => {
          const key = partitionKey(subscription, partition)
          const lease = HashMap.get(tables.leases, key)
          return {
            ...tables,
            leases: Option.isNone(lease)
              ? tables.leases
              : HashMap.set(tables.leases, key, { ...lease.value, token: lease.value.token + 1, expiresAt: 0 }),
            checkpoints: HashMap.set(tables.checkpoints, key, cursor)
          }
        }),
      registerSubscription: (info) =>
        update((tables) => ({ ...tables, subscriptions: HashMap.set(tables.subscriptions, info.name, info) })),
      subscriptions: Effect.map(
        db.get,
        (tables) =>
          Array.from(HashMap.values(tables.subscriptions)).sort((a, b) =>
            a.name < b.name ? -1 : a.name > b.name ? 1 : 0
          )
      ),
      addDeadLetter: (deadLetter) =>
        update((tables) => ({ ...tables, deadLetters: HashMap.set(tables.deadLetters, deadLetter.id, deadLetter) })),
      deadLetters: (filter) =>
        Effect.map(db.get, (tables) =>
          Array.from(HashMap.values(tables.deadLetters))
            .filter((d) =>
              (filter.subscription === undefined || d.subscription === filter.subscription) &&
              (filter.aggregateType === undefined || d.aggregateType === filter.aggregateType) &&
              (filter.aggregateId === undefined || d.aggregateId === filter.aggregateId) &&
              (filter.partition === undefined || d.partition === filter.partition)
            )
            .sort((a, b) => a.position - b.position || a.id.localeCompare(b.id))),
      deadLetter: (id) => Effect.map(db.get, (tables) => HashMap.get(tables.deadLetters, id)),
      setDeadLetterStatus: (id, status) =>
        db.transaction(Effect.flatMap(db.get, (tables) => {
          const current = HashMap.get(tables.deadLetters, id)
          return Option.isNone(current)
            ? Effect.fail(new Outbox.DeadLetterNotFound({ id }))
            : update((t) => ({ ...t, deadLetters: HashMap.set(t.deadLetters, id, { ...current.value, status }) }))
        })),
      deleteDeadLetters: (ids) =>
        update((tables) => ({
          ...tables,
          deadLetters: ids.reduce((m, id) => HashMap.remove(m, id), tables.deadLetters)
        })),
      markProcessed: (consumer, eventId) =>
        db.modify((tables): readonly [boolean, Tables] => {
          const key = `${consumer}\u0000${eventId}`
          return HashSet.has(tables.inbox, key)
            ? [false, tables]
            : [true, { ...tables, inbox: HashSet.add(tables.inbox, key) }]
        }),
      setDeadlines: (processManager, instanceId, deadlines) =>
        update((tables) => {
          let mine = Option.getOrElse(
            HashMap.get(tables.deadlines, processManager),
            () => HashMap.empty<string, Outbox.Deadline>()
          )
          mine = HashMap.filter(mine, (d) => d.instanceId !== instanceId)
          for (const d of deadlines) {
            mine = HashMap.set(mine, deadlineKey(instanceId, d.name), { processManager, instanceId, ...d })
          }
          return { ...tables, deadlines: HashMap.set(tables.deadlines, processManager, mine) }
        }),
      dueDeadlines: (processManager, now, limit) =>
        Effect.map(
          db.get,
          (tables) => deadlinesOf(tables, processManager).filter((d) => d.dueAt <= now).slice(0, limit)
        ),
      nextDeadline: (processManager) =>
        Effect.map(
          db.get,
          (tables) => Option.map(Option.fromNullable(deadlinesOf(tables, processManager)[0]), (d) => d.dueAt)
        ),
      claimDeadline: (deadline) =>
        db.modify((tables): readonly [boolean, Tables] => {
          const mine = HashMap.get(tables.deadlines, deadline.processManager)
          const key = deadlineKey(deadline.instanceId, deadline.name)
          const current = Option.flatMap(mine, HashMap.get(key))
          if (Option.isNone(mine) || Option.isNone(current) || current.value.dueAt !== deadline.dueAt) {
            return [false, tables]
          }
          return [true, {
            ...tables,
            deadlines: HashMap.set(tables.deadlines, deadline.processManager, HashMap.remove(mine.value, key))
          }]
        })
    }
    return { eventStore: service, outbox }
  }
)

/**
 * The in-memory event store alone.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<Service> = Effect.map(makeStores, (stores) => stores.eventStore)

/**
 * The in-memory event store and outbox, sharing one transactional database.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<EventStore | Outbox.Outbox> = Layer.effectContext(
  Effect.map(
    makeStores,
    (stores) => Context.make(EventStore, stores.eventStore).pipe(Context.add(Outbox.Outbox, stores.outbox))
  )
)
