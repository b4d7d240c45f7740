/**
 * Behaviour every EventStore adapter must have, run against memory, SQLite and PostgreSQL:
 * `suite("memory", MemoryEventStore.layer)`.
 *
 * Tests share one store per suite, so each uses fresh aggregate ids.
 */
import { describe, expect, layer } from "@effect/vitest"
import { Context, Deferred, Effect, Either, Exit, Fiber, Layer, Option, Schedule } from "effect"
import { Aggregate, CommandHandler, type DomainEvent, EventStore, Subscription } from "effect-ddd"
import { randomUUID } from "node:crypto"
import { Inventory } from "../../examples/http-server/Domain/Inventory.js"
import { Order, OrderId, Sku } from "../../examples/http-server/Domain/Order.js"
import {
  Course,
  CourseId,
  CourseNotPublished,
  Enrollment,
  EnrollmentId,
  StudentId
} from "../../examples/learning/Domain.js"

/** A service each caller provides for itself. */
class Caller extends Context.Tag("test/Caller")<Caller, string>() {}

const fresh = (prefix: string) => `${prefix}-${randomUUID()}`

const unsaved = (
  aggregateType: string,
  aggregateId: string,
  version: number,
  payload: unknown = { n: version }
): DomainEvent.Unsaved => ({
  eventId: randomUUID(),
  aggregateType,
  aggregateId,
  version,
  eventType: "Tested",
  schemaVersion: 1,
  payload,
  occurredAt: 1_700_000_000_000 + version,
  metadata: { correlationId: "c-1" }
})

/** Retries generous enough for heavy contention on one aggregate. */
const contended = Schedule.exponential("2 millis").pipe(
  Schedule.jittered,
  Schedule.either(Schedule.spaced("50 millis")),
  Schedule.intersect(Schedule.recurs(200))
)

/**
 * Keep a transaction open (and suspended) until a read outside it is done. Where a read waits for
 * the transaction (SQLite: one connection), only for a moment, then commit: the read runs after
 * it, and its verdict is the same.
 */
const openWhileRead = (read: Deferred.Deferred<void>) =>
  Effect.raceFirst(Deferred.await(read), Effect.sleep("100 millis"))

/** A precondition: the course is published. */
const published = (course: typeof Course.state.Type) =>
  course.status === "published" ? Either.void : Either.left(new CourseNotPublished({ courseId: course.id }))

/** A new, published course (10 seats). */
const publishedCourse = (definition: typeof Course) =>
  Effect.gen(function*() {
    const id = CourseId.make(fresh("course"))
    yield* CommandHandler.execute(definition, id, "create", { title: "Effect 101", seats: 10 })
    yield* CommandHandler.execute(definition, id, "publish", {})
    return id
  })

const enrollIn = (courseId: CourseId) => ({ courseId, studentId: StudentId.make("ada") })

export interface SuiteOptions {
  /**
   * Transactions of the store run concurrently (PostgreSQL): another transaction can commit while
   * one is open. (In memory and on SQLite they run one at a time.)
   */
  readonly concurrentTransactions?: boolean
}

export const suite = <E>(name: string, store: Layer.Layer<EventStore.EventStore, E>, options: SuiteOptions = {}) =>
  layer(Layer.provideMerge(CommandHandler.layer({ retry: contended }), store), {
    timeout: 120_000,
    excludeTestServices: true
  })(
    `EventStore contract: ${name}`,
    (it) => {
      describe("store", () => {
        it.effect("appends events with consecutive versions and increasing positions", () =>
          Effect.gen(function*() {
            const store = yield* EventStore.EventStore
            const id = fresh("a")
            const first = yield* store.append({
              aggregateType: "T",
              aggregateId: id,
              expectedVersion: 0,
              events: [unsaved("T", id, 1), unsaved("T", id, 2)]
            })
            const second = yield* store.append({
              aggregateType: "T",
              aggregateId: id,
              expectedVersion: 2,
              events: [unsaved("T", id, 3)]
            })
            const positions = [...first, ...second].map((e) => e.position)
            expect(positions).toEqual([...positions].sort((a, b) => a - b))
            expect(new Set(positions).size).toBe(3)
            const stream = yield* store.readStream("T", id, 0)
            expect(stream.map((e) => [e.version, e.payload])).toEqual([[1, { n: 1 }], [2, { n: 2 }], [3, { n: 3 }]])
            expect(stream[0]!.metadata).toEqual({ correlationId: "c-1" })
            expect(stream[0]!.occurredAt).toBe(1_700_000_000_001)
            expect((yield* store.readStream("T", id, 2)).map((e) => e.version)).toEqual([3])
          }))

        it.effect("a stale expected version is a ConcurrencyConflict and writes nothing", () =>
          Effect.gen(function*() {
            const store = yield* EventStore.EventStore
            const id = fresh("a")
            yield* store.append({
              aggregateType: "T",
              aggregateId: id,
              expectedVersion: 0,
              events: [unsaved("T", id, 1)]
            })
            const conflict = yield* Effect.flip(
              store.append({
                aggregateType: "T",
                aggregateId: id,
                expectedVersion: 0,
                events: [unsaved("T", id, 1)],
                state: { version: 1, state: { stale: true } }
              })
            )
            expect(conflict._tag).toBe("ConcurrencyConflict")
            expect((yield* store.readStream("T", id, 0)).length).toBe(1)
            expect(yield* store.readState("T", id)).toEqual(Option.none())
          }))

        it.effect("the state row is written with the events and replaced by later appends", () =>
          Effect.gen(function*() {
            const store = yield* EventStore.EventStore
            const id = fresh("a")
            expect(yield* store.readState("T", id)).toEqual(Option.none())
            yield* store.append({
              aggregateType: "T",
              aggregateId: id,
              expectedVersion: 0,
              events: [unsaved("T", id, 1)],
              state: { version: 1, state: { n: 1 } }
            })
            yield* store.append({
              aggregateType: "T",
              aggregateId: id,
              expectedVersion: 1,
              events: [unsaved("T", id, 2)],
              state: { version: 2, state: { n: 2, nested: { list: [1, 2] } } }
            })
            expect(yield* store.readState("T", id)).toEqual(
              Option.some({ version: 2, state: { n: 2, nested: { list: [1, 2] } } })
            )
          }))

        it.effect("concurrent transactions each run with the services of their caller", () =>
          Effect.gen(function*() {
            const store = yield* EventStore.EventStore
            const ids = Array.from({ length: 16 }, () => fresh("caller"))
            // started together, so that group commit batches them into shared transactions
            const seen = yield* Effect.all(
              ids.map((id) =>
                store.withTransaction(Effect.gen(function*() {
                  yield* store.append({
                    aggregateType: "T",
                    aggregateId: id,
                    expectedVersion: 0,
                    events: [unsaved("T", id, 1)]
                  })
                  return yield* Caller
                })).pipe(Effect.provideService(Caller, id))
              ),
              { concurrency: "unbounded" }
            )
            expect(seen).toEqual(ids)
          }))

        it.effect("a failing transaction leaves nothing behind", () =>
          Effect.gen(function*() {
            const store = yield* EventStore.EventStore
            const id = fresh("a")
            const failed = yield* Effect.exit(store.withTransaction(Effect.gen(function*() {
              yield* store.append({
                aggregateType: "T",
                aggregateId: id,
                expectedVersion: 0,
                events: [unsaved("T", id, 1)],
                state: { version: 1, state: {} }
              })
              yield* store.saveIdempotencyRecord({
                key: `k-${id}`,
                fingerprint: "f",
                aggregateType: "T",
                aggregateId: id,
                result: {},
                createdAt: 0
              })
              return yield* Effect.fail("boom" as const)
            })))
            expect(Exit.isFailure(failed)).toBe(true)
            expect(yield* store.readStream("T", id, 0)).toEqual([])
            expect(yield* store.readState("T", id)).toEqual(Option.none())
            expect(yield* store.findIdempotencyRecord(`k-${id}`)).toEqual(Option.none())
          }))

        it.effect("a defect or an interruption rolls back too", () =>
          Effect.gen(function*() {
            const store = yield* EventStore.EventStore
            const id = fresh("a")
            const write = store.append({
              aggregateType: "T",
              aggregateId: id,
              expectedVersion: 0,
              events: [unsaved("T", id, 1)]
            })
            yield* Effect.exit(store.withTransaction(Effect.zipRight(write, Effect.die("bug"))))
            const written = yield* Deferred.make<void>()
            const fiber = yield* Effect.fork(
              store.withTransaction(
                Effect.zipRight(write, Effect.zipRight(Deferred.succeed(written, undefined), Effect.never))
              )
            )
            yield* Deferred.await(written)
            yield* Fiber.interrupt(fiber)
            expect(yield* store.readStream("T", id, 0)).toEqual([])
          }))

        it.effect("reads outside a transaction never see its uncommitted writes, even while it waits", () =>
          Effect.gen(function*() {
            const store = yield* EventStore.EventStore
            const id = fresh("a")
            const written = yield* Deferred.make<void>()
            const read = yield* Deferred.make<void>()
            const writer = yield* Effect.fork(Effect.exit(store.withTransaction(Effect.gen(function*() {
              yield* store.append({
                aggregateType: "T",
                aggregateId: id,
                expectedVersion: 0,
                events: [unsaved("T", id, 1)]
              })
              yield* Deferred.succeed(written, undefined)
              yield* openWhileRead(read)
              return yield* Effect.fail("rolled back" as const)
            }))))
            yield* Deferred.await(written)
            const [stream, state, log] = yield* Effect.all([
              store.readStream("T", id, 0),
              store.readState("T", id),
              Effect.map(
                store.readAll(EventStore.logStart, 100_000),
                (events) => events.filter((e) => e.aggregateId === id)
              )
            ], { concurrency: "unbounded" }).pipe(Effect.ensuring(Deferred.succeed(read, undefined)))
            expect([stream, state, log]).toEqual([[], Option.none(), []])
            expect(Exit.isFailure(yield* Fiber.join(writer))).toBe(true)
            expect(yield* store.readStream("T", id, 0)).toEqual([])
          }))

        it.effect("nested transactions are savepoints", () =>
          Effect.gen(function*() {
            const store = yield* EventStore.EventStore
            const a = fresh("a")
            const b = fresh("b")
            yield* store.withTransaction(Effect.gen(function*() {
              yield* store.append({
                aggregateType: "T",
                aggregateId: a,
                expectedVersion: 0,
                events: [unsaved("T", a, 1)]
              })
              yield* Effect.ignore(store.withTransaction(Effect.zipRight(
                store.append({ aggregateType: "T", aggregateId: b, expectedVersion: 0, events: [unsaved("T", b, 1)] }),
                Effect.fail("inner")
              )))
            }))
            expect((yield* store.readStream("T", a, 0)).length).toBe(1)
            expect((yield* store.readStream("T", b, 0)).length).toBe(0)
          }))

        it.effect("a conflict inside a transaction can be handled and the transaction goes on", () =>
          Effect.gen(function*() {
            const store = yield* EventStore.EventStore
            const a = fresh("a")
            const b = fresh("b")
            yield* store.append({
              aggregateType: "T",
              aggregateId: a,
              expectedVersion: 0,
              events: [unsaved("T", a, 1)]
            })
            yield* store.withTransaction(Effect.gen(function*() {
              const conflict = yield* Effect.flip(
                store.append({ aggregateType: "T", aggregateId: a, expectedVersion: 0, events: [unsaved("T", a, 1)] })
              )
              expect(conflict._tag).toBe("ConcurrencyConflict")
              yield* store.append({
                aggregateType: "T",
                aggregateId: b,
                expectedVersion: 0,
                events: [unsaved("T", b, 1)]
              })
            }))
            expect((yield* store.readStream("T", b, 0)).length).toBe(1)
          }))

        it.effect("readAll returns every event after a position, in position order", () =>
          Effect.gen(function*() {
            const store = yield* EventStore.EventStore
            const ids = [fresh("r"), fresh("r"), fresh("r")]
            const appended: Array<DomainEvent.Stored> = []
            for (const [i, id] of ids.entries()) {
              appended.push(
                ...(yield* store.append({
                  aggregateType: "R",
                  aggregateId: id,
                  expectedVersion: 0,
                  events: [unsaved("R", id, 1), unsaved("R", id, 2)].slice(0, i + 1)
                }))
              )
            }
            // follow the cursor from the start in small pages: every event once, in append order here
            const seen: Array<EventStore.LoggedEvent> = []
            let cursor = EventStore.logStart
            while (true) {
              const page = yield* store.readAll(cursor, 7)
              if (page.length === 0) break
              expect(page.length).toBeLessThanOrEqual(7)
              seen.push(...page)
              cursor = EventStore.cursorOf(page[page.length - 1]!)
            }
            const mine = seen.filter((e) => ids.includes(e.aggregateId))
            expect(mine.map((e) => e.eventId)).toEqual(appended.map((e) => e.eventId))
            expect(new Set(seen.map((e) => e.eventId)).size).toBe(seen.length)
            expect(mine[0]!.payload).toEqual({ n: 1 })
          }))

        it.effect("readAll filters by aggregate type, event type and partition", () =>
          Effect.gen(function*() {
            const store = yield* EventStore.EventStore
            const typeA = fresh("A")
            const typeB = fresh("B")
            const ids = Array.from({ length: 12 }, (_, i) => `agg-${i}-${randomUUID()}`)
            for (const id of ids) {
              yield* store.append({
                aggregateType: typeA,
                aggregateId: id,
                expectedVersion: 0,
                events: [{ ...unsaved(typeA, id, 1), eventType: "Kept" }, {
                  ...unsaved(typeA, id, 2),
                  eventType: "Dropped"
                }]
              })
              yield* store.append({
                aggregateType: typeB,
                aggregateId: id,
                expectedVersion: 0,
                events: [unsaved(typeB, id, 1)]
              })
            }
            const readAll = (filter: EventStore.LogFilter) =>
              Effect.map(store.readAll(EventStore.logStart, 100_000, filter), (events) =>
                events.filter((e) => e.aggregateType === typeA || e.aggregateType === typeB))
            const kept = yield* readAll({ sources: [{ aggregateType: typeA, eventTypes: ["Kept"] }] })
            expect(kept.map((e) => [e.aggregateType, e.eventType])).toEqual(ids.map(() => [typeA, "Kept"]))
            const everything = yield* readAll({
              sources: [{ aggregateType: typeA, eventTypes: [] }, { aggregateType: typeB, eventTypes: [] }]
            })
            expect(everything.length).toBe(36)
            const partitions = yield* Effect.forEach([0, 1, 2], (index) =>
              readAll({ sources: [{ aggregateType: typeB, eventTypes: [] }], partition: { count: 3, index } }))
            expect(
              partitions.flat().map((e) =>
                e.aggregateId
              ).sort()
            ).toEqual([...ids].sort())
            for (const [index, events] of partitions.entries()) {
              for (const e of events) {
                expect(EventStore.streamHash(e.aggregateId) % 3).toBe(index)
              }
            }
          }))

        it.effect("readPage: the events of readAll, and a next cursor past what the filter does not select", () =>
          Effect.gen(function*() {
            const store = yield* EventStore.EventStore
            const type = fresh("Page")
            const rare = { sources: [{ aggregateType: type, eventTypes: ["Rare"] }] }
            const all = { sources: [{ aggregateType: type, eventTypes: [] }] }
            const id = fresh("p")
            yield* store.append({
              aggregateType: type,
              aggregateId: id,
              expectedVersion: 0,
              events: [1, 2, 3, 4, 5].map((v) => unsaved(type, id, v))
            })
            const start = yield* store.readPage(EventStore.logStart, 1, rare)
            expect(start.events).toEqual([])
            const first = yield* store.readPage(EventStore.logStart, 100_000, all)
            const mine = first.events.filter((e) => e.aggregateId === id)
            expect(mine.map((e) => e.version)).toEqual([1, 2, 3, 4, 5])
            expect(first.events).toEqual(yield* store.readAll(EventStore.logStart, 100_000, all))
            // a full page ends at its last event, whatever comes after it
            const fromSecond = yield* store.readPage(EventStore.cursorOf(mine[0]!), 2, all)
            expect(fromSecond.events.map((e) => e.version)).toEqual([2, 3])
            expect(fromSecond.next).toEqual(EventStore.cursorOf(fromSecond.events[1]!))
            // nothing selected: the next cursor is past the events read over, not before them
            expect(EventStore.isAfter(start.next, EventStore.cursorOf(mine[3]!))).toBe(true)
            expect((yield* store.readPage(start.next, 100, all)).events.filter((e) => e.aggregateId === id)).toEqual([])
            // and never past an event appended later
            const [rareEvent] = yield* store.append({
              aggregateType: type,
              aggregateId: id,
              expectedVersion: 5,
              events: [{ ...unsaved(type, id, 6), eventType: "Rare" }]
            })
            const later = yield* store.readPage(start.next, 10, rare)
            expect(later.events.map((e) => e.eventId)).toEqual([rareEvent!.eventId])
            expect(later.next).toEqual(EventStore.cursorOf(later.events[0]!))
            const after = yield* store.readPage(later.next, 10, rare)
            expect(after.events).toEqual([])
            expect(EventStore.isAfter(later.next, after.next)).toBe(false)
          }))

        it.effect("readPage's next cursor never passes a write that commits after the read", () =>
          Effect.gen(function*() {
            const store = yield* EventStore.EventStore
            const type = fresh("Late")
            const filter = { sources: [{ aggregateType: type, eventTypes: [] }] }
            const id = fresh("l")
            const before = yield* store.readPage(EventStore.logStart, 100_000, filter)
            const written = yield* Deferred.make<void>()
            const read = yield* Deferred.make<void>()
            const writer = yield* Effect.fork(store.withTransaction(Effect.gen(function*() {
              const events = yield* store.append({
                aggregateType: type,
                aggregateId: id,
                expectedVersion: 0,
                events: [unsaved(type, id, 1)]
              })
              yield* Deferred.succeed(written, undefined)
              // meanwhile other writers commit later events
              yield* openWhileRead(read)
              return events
            })))
            yield* Deferred.await(written)
            const other = fresh("o")
            yield* Effect.fork(
              store.append({
                aggregateType: "T",
                aggregateId: other,
                expectedVersion: 0,
                events: [unsaved("T", other, 1)]
              })
            )
            const during = yield* store.readPage(before.next, 100_000, filter).pipe(
              Effect.ensuring(Deferred.succeed(read, undefined))
            )
            const [event] = yield* Fiber.join(writer)
            const seen = [...during.events, ...(yield* store.readPage(during.next, 100_000, filter)).events]
            expect(seen.map((e) => e.eventId)).toEqual([event!.eventId])
          }))

        it.effect("backlog counts the events after a cursor, of a filter, with the oldest one's time", () =>
          Effect.gen(function*() {
            const store = yield* EventStore.EventStore
            const type = fresh("Backlog")
            const other = fresh("Other")
            const ids = Array.from({ length: 9 }, (_, i) => `agg-${i}-${randomUUID()}`)
            for (const [i, id] of ids.entries()) {
              yield* store.append({
                aggregateType: type,
                aggregateId: id,
                expectedVersion: 0,
                events: [{ ...unsaved(type, id, 1), occurredAt: 1_000 + i }, {
                  ...unsaved(type, id, 2),
                  occurredAt: 2_000 + i,
                  eventType: "Late"
                }]
              })
              yield* store.append({
                aggregateType: other,
                aggregateId: id,
                expectedVersion: 0,
                events: [unsaved(other, id, 1)]
              })
            }
            const all = { sources: [{ aggregateType: type, eventTypes: [] }] }
            expect(yield* store.backlog(EventStore.logStart, all)).toEqual({ count: 18, oldestOccurredAt: 1_000 })
            expect(
              yield* store.backlog(EventStore.logStart, { sources: [{ aggregateType: type, eventTypes: ["Late"] }] })
            )
              .toEqual({ count: 9, oldestOccurredAt: 2_000 })
            // after the fourth aggregate's events: five aggregates left
            const log = yield* store.readAll(EventStore.logStart, 100_000, all)
            const cursor = EventStore.cursorOf(log[7]!)
            expect(yield* store.backlog(cursor, all)).toEqual({ count: 10, oldestOccurredAt: 1_004 })
            expect(yield* store.backlog(EventStore.cursorOf(log[log.length - 1]!), all)).toEqual({
              count: 0,
              oldestOccurredAt: undefined
            })
            const partitions = yield* Effect.forEach(
              [0, 1, 2],
              (index) => store.backlog(EventStore.logStart, { ...all, partition: { count: 3, index } })
            )
            expect(partitions.map((b) => b.count)).toEqual(
              [0, 1, 2].map((index) => 2 * ids.filter((id) => EventStore.streamHash(id) % 3 === index).length)
            )
          }))

        it.effect("cursorBefore: reading after it starts at the event at (or after) a position", () =>
          Effect.gen(function*() {
            const store = yield* EventStore.EventStore
            const type = fresh("C")
            const id = fresh("c")
            const appended = yield* store.append({
              aggregateType: type,
              aggregateId: id,
              expectedVersion: 0,
              events: [unsaved(type, id, 1), unsaved(type, id, 2), unsaved(type, id, 3)]
            })
            const filter = { sources: [{ aggregateType: type, eventTypes: [] }] }
            const from = (cursor: Option.Option<EventStore.LogCursor>) =>
              Effect.map(store.readAll(Option.getOrThrow(cursor), 10, filter), (events) => events.map((e) => e.version))
            expect(yield* from(yield* store.cursorBefore(appended[1]!.position))).toEqual([2, 3])
            expect(yield* from(yield* store.cursorBefore(appended[0]!.position))).toEqual([1, 2, 3])
            expect(yield* from(yield* store.cursorBefore(appended[2]!.position))).toEqual([3])
            expect(yield* store.cursorBefore(appended[2]!.position + 1_000_000)).toEqual(Option.none())
          }))

        it.effect("idempotency records are stored once", () =>
          Effect.gen(function*() {
            const store = yield* EventStore.EventStore
            const key = fresh("key")
            const record = {
              key,
              fingerprint: "f",
              aggregateType: "T",
              aggregateId: "x",
              result: { a: [1] },
              createdAt: 5
            }
            yield* store.saveIdempotencyRecord(record)
            expect(yield* store.findIdempotencyRecord(key)).toEqual(Option.some(record))
            const again = yield* Effect.flip(store.saveIdempotencyRecord({ ...record, fingerprint: "g" }))
            expect(again._tag).toBe("ConcurrencyConflict")
            expect(yield* store.findIdempotencyRecord(key)).toEqual(Option.some(record))
          }))
      })

      describe("command handling", () => {
        it.effect("executes, loads and rejects by expectation", () =>
          Effect.gen(function*() {
            const orderId = OrderId.make(fresh("o"))
            const lines = [{ sku: Sku.make("apple"), quantity: 1 }]
            const placed = yield* CommandHandler.execute(Order, orderId, "place", { customerId: "c", lines })
            expect([placed.version, placed.state.status, placed.events.length]).toEqual([1, "pending", 1])
            expect(placed.events[0]!).toMatchObject({
              aggregateType: "Order",
              aggregateId: orderId,
              version: 1,
              eventType: "OrderPlaced",
              schemaVersion: 1
            })
            expect(placed.events[0]!.metadata.correlationId).toBe(placed.events[0]!.eventId)
            const loaded = yield* CommandHandler.load(Order, orderId)
            expect(loaded).toEqual({ id: orderId, state: placed.state, version: 1 })
            const again = yield* Effect.flip(
              CommandHandler.execute(Order, orderId, "place", { customerId: "c", lines })
            )
            expect(again._tag).toBe("AggregateAlreadyExists")
            const missing = yield* Effect.flip(CommandHandler.execute(Order, OrderId.make(fresh("o")), "confirm", {}))
            expect(missing._tag).toBe("AggregateNotFound")
            const confirmed = yield* CommandHandler.execute(Order, orderId, "confirm", {})
            expect(confirmed.version).toBe(2)
            const nothing = yield* CommandHandler.execute(Order, orderId, "confirm", {})
            expect([nothing.version, nothing.events.length]).toEqual([2, 0])
            const domain = yield* Effect.flip(
              CommandHandler.execute(Order, orderId, "reject", { reason: "payment declined" })
            )
            expect(domain._tag).toBe("OrderNotPending")
          }))

        it.effect("a rejected command writes nothing", () =>
          Effect.gen(function*() {
            const store = yield* EventStore.EventStore
            const sku = Sku.make(fresh("sku"))
            const error = yield* Effect.flip(
              CommandHandler.execute(Inventory, sku, "reserve", { orderId: OrderId.make("o"), quantity: 1 }, {
                idempotencyKey: `reserve-${sku}`
              })
            )
            expect(error._tag).toBe("InsufficientStock")
            expect(yield* store.readStream("Inventory", sku, 0)).toEqual([])
            expect(yield* store.findIdempotencyRecord(`reserve-${sku}`)).toEqual(Option.none())
          }))

        it.effect("50 concurrent executes on one aggregate: version 50, no lost update", () =>
          Effect.gen(function*() {
            const sku = Sku.make(fresh("sku"))
            yield* Effect.forEach(
              Array.from({ length: 50 }, (_, i) => i + 1),
              (quantity) => CommandHandler.execute(Inventory, sku, "restock", { quantity }),
              { concurrency: "unbounded", discard: true }
            )
            const loaded = yield* CommandHandler.load(Inventory, sku)
            expect(loaded.version).toBe(50)
            expect(loaded.state.available).toBe((50 * 51) / 2)
            const store = yield* EventStore.EventStore
            const events = yield* store.readStream("Inventory", sku, 0)
            expect(events.map((e) => e.version)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1))
          }))

        it.effect("64 concurrent writers on one aggregate: no lost update, state = fold of all events", () =>
          Effect.gen(function*() {
            const store = yield* EventStore.EventStore
            const Sourced = Aggregate.withPersistence(Inventory, Aggregate.eventSourced())
            const sku = Sku.make(fresh("sku"))
            yield* Effect.forEach(
              Array.from({ length: 64 }, (_, i) => i + 1),
              (quantity) => CommandHandler.execute(Inventory, sku, "restock", { quantity }),
              { concurrency: "unbounded", discard: true }
            )
            const loaded = yield* CommandHandler.load(Inventory, sku)
            const folded = yield* CommandHandler.load(Sourced, sku)
            expect(loaded.version).toBe(64)
            expect(loaded.state.available).toBe((64 * 65) / 2)
            expect(folded).toEqual(loaded)
            const events = yield* store.readStream("Inventory", sku, 0)
            expect(events.map((e) => e.version)).toEqual(Array.from({ length: 64 }, (_, i) => i + 1))
          }))

        it.effect("upcasting: events written with schema v1 are read after the schema moved to v2", () =>
          Effect.gen(function*() {
            const { Schema } = yield* Effect.promise(() => import("effect"))
            const id = fresh("acct")
            // v1: Deposited { amount }
            const V1 = Aggregate.make({
              name: "Account",
              id: Schema.String,
              state: Schema.Struct({ balance: Schema.Number }),
              events: Schema.TaggedStruct("Deposited", { amount: Schema.Number }),
              persistence: Aggregate.eventSourced()
            })({
              initial: () => ({ balance: 0 }),
              evolve: { Deposited: (s, e) => ({ balance: s.balance + e.amount }) }
            })
              .command("deposit", {
                expects: "any",
                input: Schema.Struct({ amount: Schema.Number }),
                decide: (_, { amount }) => Either.right([{ _tag: "Deposited" as const, amount }])
              })
            yield* CommandHandler.execute(V1, id, "deposit", { amount: 5 })
            yield* CommandHandler.execute(V1, id, "deposit", { amount: 7 })
            // v2: Deposited { cents, currency }; v1 payloads are upcast on read
            const V2 = Aggregate.make({
              name: "Account",
              id: Schema.String,
              state: Schema.Struct({ balance: Schema.Number }),
              events: Schema.TaggedStruct("Deposited", { cents: Schema.Int, currency: Schema.String }),
              persistence: Aggregate.eventSourced(),
              upcasters: {
                Deposited: {
                  1: (v1: { _tag: string; amount: number }) => ({
                    _tag: v1._tag,
                    cents: v1.amount * 100,
                    currency: "EUR"
                  })
                }
              }
            })({ initial: () => ({ balance: 0 }), evolve: { Deposited: (s, e) => ({ balance: s.balance + e.cents }) } })
              .command("deposit", {
                expects: "any",
                input: Schema.Struct({ cents: Schema.Int }),
                decide: (_, { cents }) => Either.right([{ _tag: "Deposited" as const, cents, currency: "EUR" }])
              })
            expect((yield* CommandHandler.load(V2, id)).state.balance).toBe(1200)
            const result = yield* CommandHandler.execute(V2, id, "deposit", { cents: 1 })
            expect([result.version, result.state.balance, result.events[0]!.schemaVersion]).toEqual([3, 1201, 2])
            const store = yield* EventStore.EventStore
            expect((yield* store.readStream("Account", id, 0)).map((e) => e.schemaVersion)).toEqual([1, 1, 2])
            // without the upcaster, a v1 payload does not decode: a typed error naming the event
            const NoUpcaster = Aggregate.withPersistence(
              { ...V2, upcasters: {} } as typeof V2,
              Aggregate.eventSourced()
            )
            const error = yield* Effect.flip(CommandHandler.load(NoUpcaster, id))
            expect(error._tag).toBe("EventDecodeError")
          }))

        it.effect("idempotency: a repeat returns the stored result, another input is refused", () =>
          Effect.gen(function*() {
            const store = yield* EventStore.EventStore
            const sku = Sku.make(fresh("sku"))
            const key = fresh("restock")
            const first = yield* CommandHandler.execute(Inventory, sku, "restock", { quantity: 5 }, {
              idempotencyKey: key
            })
            const second = yield* CommandHandler.execute(Inventory, sku, "restock", { quantity: 5 }, {
              idempotencyKey: key
            })
            expect(first.replayed).toBe(false)
            expect(second.replayed).toBe(true)
            expect({ ...second, replayed: false }).toEqual(first)
            expect(first.events[0]!.metadata.idempotencyKey).toBe(key)
            expect((yield* store.readStream("Inventory", sku, 0)).length).toBe(1)
            const reused = yield* Effect.flip(
              CommandHandler.execute(Inventory, sku, "restock", { quantity: 6 }, { idempotencyKey: key })
            )
            expect(reused._tag).toBe("IdempotencyKeyReused")
            expect((yield* CommandHandler.load(Inventory, sku)).state.available).toBe(5)
          }))

        it.effect("idempotency with a caller's fingerprint returns the first aggregate", () =>
          Effect.gen(function*() {
            const key = fresh("place")
            const lines = [{ sku: Sku.make("apple"), quantity: 1 }]
            const first = yield* CommandHandler.execute(Order, OrderId.make(fresh("o")), "place", {
              customerId: "c",
              lines
            }, {
              idempotencyKey: key,
              fingerprint: "body-1"
            })
            const replay = yield* CommandHandler.execute(Order, OrderId.make(fresh("o")), "place", {
              customerId: "c",
              lines
            }, {
              idempotencyKey: key,
              fingerprint: "body-1"
            })
            expect(replay.aggregateId).toBe(first.aggregateId)
            const other = yield* Effect.flip(
              CommandHandler.execute(Order, OrderId.make(fresh("o")), "place", { customerId: "c", lines }, {
                idempotencyKey: key,
                fingerprint: "body-2"
              })
            )
            expect(other._tag).toBe("IdempotencyKeyReused")
          }))

        it.effect("concurrent executes with one idempotency key run the command once", () =>
          Effect.gen(function*() {
            const sku = Sku.make(fresh("sku"))
            const key = fresh("restock")
            const results = yield* Effect.forEach(
              Array.from({ length: 10 }),
              () => CommandHandler.execute(Inventory, sku, "restock", { quantity: 3 }, { idempotencyKey: key }),
              { concurrency: "unbounded" }
            )
            expect(results.filter((r) => !r.replayed).length).toBe(1)
            expect((yield* CommandHandler.load(Inventory, sku)).state.available).toBe(3)
          }))

        it.effect("event-sourced: state is the fold of the events, with snapshots every N", () =>
          Effect.gen(function*() {
            const store = yield* EventStore.EventStore
            const Sourced = Aggregate.withPersistence(Inventory, Aggregate.eventSourced({ snapshotEvery: 3 }))
            const sku = Sku.make(fresh("sku"))
            for (let i = 1; i <= 7; i++) yield* CommandHandler.execute(Sourced, sku, "restock", { quantity: i })
            const loaded = yield* CommandHandler.load(Sourced, sku)
            expect([loaded.version, loaded.state.available]).toEqual([7, 28])
            const snapshot = yield* store.readState("Inventory", sku)
            expect(Option.map(snapshot, (s) => s.version)).toEqual(Option.some(6))
            const NoSnapshots = Aggregate.withPersistence(Inventory, Aggregate.eventSourced())
            const other = Sku.make(fresh("sku"))
            for (let i = 1; i <= 4; i++) yield* CommandHandler.execute(NoSnapshots, other, "restock", { quantity: i })
            expect((yield* CommandHandler.load(NoSnapshots, other)).state.available).toBe(10)
            expect(yield* store.readState("Inventory", other)).toEqual(Option.none())
          }))

        it.effect("an undecodable stored payload is a typed error naming the event", () =>
          Effect.gen(function*() {
            const store = yield* EventStore.EventStore
            const sku = Sku.make(fresh("sku"))
            const [bad] = yield* store.append({
              aggregateType: "Inventory",
              aggregateId: sku,
              expectedVersion: 0,
              events: [{
                ...unsaved("Inventory", sku, 1, { _tag: "StockRestocked", sku, quantity: "many" }),
                eventType: "StockRestocked"
              }]
            })
            const Sourced = Aggregate.withPersistence(Inventory, Aggregate.eventSourced())
            const error = yield* Effect.flip(CommandHandler.load(Sourced, sku))
            expect(error._tag).toBe("EventDecodeError")
            expect(error._tag === "EventDecodeError" && error.eventId).toBe(bad!.eventId)
            expect(error.message).toContain("quantity")
          }))

        describe("a precondition on another aggregate (CommandHandler.withPrecondition)", () => {
          it.effect("the command runs when the other aggregate passes; otherwise it fails with the check's error and writes nothing", () =>
            Effect.gen(function*() {
              const store = yield* EventStore.EventStore
              const courseId = yield* publishedCourse(Course)
              const enrollmentId = EnrollmentId.make(fresh("enrollment"))
              const enrolled = yield* CommandHandler.execute(Enrollment, enrollmentId, "enroll", enrollIn(courseId), {
                idempotencyKey: `enroll-${enrollmentId}`
              }).pipe(CommandHandler.withPrecondition(Course, courseId, published))
              expect([enrolled.version, enrolled.state.status]).toEqual([1, "enrolled"])

              const draft = CourseId.make(fresh("draft"))
              yield* CommandHandler.execute(Course, draft, "create", { title: "Draft", seats: 1 })
              const refusedId = EnrollmentId.make(fresh("enrollment"))
              // data-first, the same combinator
              const refused = yield* Effect.flip(
                CommandHandler.withPrecondition(
                  CommandHandler.execute(Enrollment, refusedId, "enroll", enrollIn(draft)),
                  Course,
                  draft,
                  published
                )
              )
              expect(refused).toEqual(new CourseNotPublished({ courseId: draft }))
              expect(yield* store.readStream("Enrollment", refusedId, 0)).toEqual([])
              expect(yield* store.readState("Enrollment", refusedId)).toEqual(Option.none())

              // a repeat of an idempotency key returns the first result, whatever the course is now
              yield* CommandHandler.execute(Course, courseId, "close", {})
              const replayed = yield* CommandHandler.execute(Enrollment, enrollmentId, "enroll", enrollIn(courseId), {
                idempotencyKey: `enroll-${enrollmentId}`
              }).pipe(CommandHandler.withPrecondition(Course, courseId, published))
              expect([replayed.replayed, replayed.version]).toEqual([true, 1])
              const late = yield* Effect.flip(
                CommandHandler.execute(Enrollment, EnrollmentId.make(fresh("enrollment")), "enroll", enrollIn(courseId))
                  .pipe(CommandHandler.withPrecondition(Course, courseId, published))
              )
              expect(late._tag).toBe("CourseNotPublished")
            }))

          for (
            const [persistence, definition] of [
              ["state-stored", Course],
              ["event-sourced", Aggregate.withPersistence(Course, Aggregate.eventSourced())]
            ] as const
          ) {
            it.effect(`a change of the other aggregate (${persistence}) between the check and the commit is a conflict; the retry decides again`, () =>
              Effect.gen(function*() {
                const courseId = yield* publishedCourse(definition)
                // the change is made after the append, inside the command's own transaction: the
                // only place the memory store and SQLite let one happen (their transactions run one
                // at a time); it is rolled back with the attempt it broke
                let attempts = 0
                const closeOnFirstAttempt = Subscription.make({
                  name: "close-the-course-on-the-first-attempt",
                  mode: "sync",
                  events: [Subscription.on(Enrollment, "Enrolled")],
                  handle: (event) =>
                    Effect.suspend(() =>
                      ++attempts === 1
                        ? Effect.asVoid(CommandHandler.execute(definition, event.courseId, "close", {}))
                        : Effect.void
                    )
                })
                const handler = yield* CommandHandler.make({ subscriptions: [closeOnFirstAttempt], retry: contended })
                const enrollmentId = EnrollmentId.make(fresh("enrollment"))
                const enrolled = yield* handler.execute(Enrollment, enrollmentId, "enroll", enrollIn(courseId)).pipe(
                  CommandHandler.withPrecondition(definition, courseId, published)
                )
                expect([attempts, enrolled.version]).toEqual([2, 1])
                const course = yield* CommandHandler.load(definition, courseId)
                expect([course.state.status, course.version]).toEqual(["published", 2])

                // control: without the precondition the same change sticks, in one attempt
                attempts = 0
                yield* handler.execute(Enrollment, EnrollmentId.make(fresh("enrollment")), "enroll", enrollIn(courseId))
                expect(attempts).toBe(1)
                expect((yield* CommandHandler.load(definition, courseId)).state.status).toBe("closed")
              }))
          }

          if (options.concurrentTransactions === true) {
            it.effect("a change committed by another transaction between the check and the commit: the retry checks again and refuses", () =>
              Effect.gen(function*() {
                const store = yield* EventStore.EventStore
                const courseId = yield* publishedCourse(Course)
                const appended = yield* Deferred.make<void>()
                const go = yield* Deferred.make<void>()
                let attempts = 0
                // holds the enrollment's transaction open after its append, on the first attempt
                const pause = Subscription.make({
                  name: "pause-after-the-append",
                  mode: "sync",
                  events: [Subscription.on(Enrollment, "Enrolled")],
                  handle: () =>
                    Effect.suspend(() =>
                      ++attempts === 1
                        ? Effect.zipRight(Deferred.succeed(appended, undefined), Deferred.await(go))
                        : Effect.void
                    )
                })
                const handler = yield* CommandHandler.make({ subscriptions: [pause], retry: contended })
                const enrollmentId = EnrollmentId.make(fresh("enrollment"))
                const enrolling = yield* Effect.fork(
                  handler.execute(Enrollment, enrollmentId, "enroll", enrollIn(courseId)).pipe(
                    CommandHandler.withPrecondition(Course, courseId, published)
                  )
                )
                yield* Deferred.await(appended)
                // commits on another connection while the enrollment's transaction is open
                const closed = yield* CommandHandler.execute(Course, courseId, "close", {})
                expect(closed.state.status).toBe("closed")
                yield* Deferred.succeed(go, undefined)
                const refused = yield* Effect.flip(Fiber.join(enrolling))
                expect(refused).toEqual(new CourseNotPublished({ courseId }))
                expect(attempts).toBe(1)
                expect(yield* store.readStream("Enrollment", enrollmentId, 0)).toEqual([])
              }))
          }
        })

        it.effect("a command can be executed inside a caller's transaction and rolls back with it", () =>
          Effect.gen(function*() {
            const store = yield* EventStore.EventStore
            const sku = Sku.make(fresh("sku"))
            const result = yield* Effect.either(store.withTransaction(Effect.gen(function*() {
              yield* CommandHandler.execute(Inventory, sku, "restock", { quantity: 1 })
              return yield* Effect.fail("later step failed" as const)
            })))
            expect(Either.isLeft(result)).toBe(true)
            expect((yield* CommandHandler.load(Inventory, sku)).version).toBe(0)
          }))
      })
    }
  )
