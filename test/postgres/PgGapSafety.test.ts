/**
 * Gap safety on PostgreSQL: positions are assigned at insert, not at commit, so under concurrent
 * writers a reader that follows positions skips rows that commit late. The log read must still
 * deliver every committed event exactly once, each aggregate's events in version order.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Random, Ref } from "effect"
import { CommandHandler, EventStore } from "effect-ddd"
import { SqlEventStore } from "effect-ddd/sql"
import { Inventory } from "../../examples/http-server/Domain/Inventory.js"
import { Sku } from "../../examples/http-server/Domain/Order.js"
import { pgClient } from "../support/pg.js"

const WRITERS = 32
const TARGET_EVENTS = 20_000
const AGGREGATES = 400

const Live = CommandHandler.layer().pipe(
  Layer.provideMerge(SqlEventStore.layer({ groupCommit: false })),
  Layer.provide(pgClient("gaps", { maxConnections: 48 }))
)

describe("PostgreSQL gap safety", () => {
  it.live(
    "32 writers with delays inside their transactions, 20k events: the readers see each once, in version order",
    () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const handler = yield* CommandHandler.CommandHandler
        const committed = new Set<string>()
        /** Of them, the events of the sparse reader's partition. */
        const committedSparse = new Set<string>()
        const inSparse = (aggregateId: string) => EventStore.streamHash(aggregateId) % 8 === 3
        const written = yield* Ref.make(0)
        const sleepUpTo = (ms: number) => Effect.flatMap(Random.nextIntBetween(0, ms + 1), (n) => Effect.sleep(n))

        // one transaction: a command (the transaction id is taken here), a delay, a second command
        // (its positions come later), another delay, then commit
        const transaction = Effect.gen(function*() {
          const a = Sku.make(`sku-${yield* Random.nextIntBetween(0, AGGREGATES)}`)
          const b = Sku.make(`sku-${yield* Random.nextIntBetween(0, AGGREGATES)}`)
          const ids = yield* store.withTransaction(Effect.gen(function*() {
            yield* sleepUpTo(1)
            const first = yield* handler.execute(Inventory, a, "restock", { quantity: 1 })
            yield* sleepUpTo(3)
            const second = yield* handler.execute(Inventory, b, "restock", { quantity: 1 })
            yield* sleepUpTo(3)
            return [...first.events, ...second.events]
          }))
          for (const event of ids) {
            committed.add(event.eventId)
            if (inSparse(event.aggregateId)) committedSparse.add(event.eventId)
          }
          yield* Ref.update(written, (n) => n + ids.length)
        })
        const writer = transaction.pipe(
          Effect.catchAll(() => Effect.void), // deadlocks and conflicts abort a transaction: nothing of it is committed
          Effect.repeat({ until: () => committed.size >= TARGET_EVENTS })
        )

        const seen: Array<EventStore.LoggedEvent> = []
        // The horizon (pg_snapshot_xmin) is cluster-wide: transactions elsewhere on the server can
        // hold it below the last commits for a moment, so an empty page does not mean "all read".
        // Once the writers are done, one more event is committed: the readers read until they
        // have it (then everything committed before it has been read), and once more after it,
        // which must find nothing (nothing is read twice later either).
        let last: string | undefined
        const isLast = (events: ReadonlyArray<EventStore.LoggedEvent>) => events.some((e) => e.eventId === last)
        const reader = Effect.gen(function*() {
          let cursor = EventStore.logStart
          while (true) {
            const page = yield* store.readAll(cursor, 1000)
            seen.push(...page)
            if (page.length > 0) cursor = EventStore.cursorOf(page[page.length - 1]!)
            if (isLast(page)) {
              seen.push(...(yield* store.readAll(cursor, 1000)))
              return
            }
            if (page.length === 0) yield* Effect.sleep("2 millis")
          }
        })
        // a reader of one partition in eight follows readPage's next cursor, which moves past the
        // events of the other partitions: it must still see every event of its own (the last
        // event is one of them)
        const sparseSeen: Array<EventStore.LoggedEvent> = []
        const sparse = {
          sources: [{ aggregateType: Inventory.name, eventTypes: [] }],
          partition: { count: 8, index: 3 }
        }
        const sparseReader = Effect.gen(function*() {
          let cursor = EventStore.logStart
          while (true) {
            const page = yield* store.readPage(cursor, 50, sparse)
            sparseSeen.push(...page.events)
            cursor = page.next
            if (isLast(page.events)) {
              sparseSeen.push(...(yield* store.readPage(cursor, 50, sparse)).events)
              return
            }
            if (page.events.length === 0) yield* Effect.sleep("2 millis")
          }
        })
        let lastId = 0
        while (!inSparse(`last-${lastId}`)) lastId++
        const commitLast = Effect.gen(function*() {
          const { events } = yield* handler.execute(Inventory, Sku.make(`last-${lastId}`), "restock", { quantity: 1 })
          for (const event of events) {
            committed.add(event.eventId)
            committedSparse.add(event.eventId)
          }
          last = events[0]!.eventId
        })
        yield* Effect.all([
          Effect.forEach(Array.from({ length: WRITERS }), () => writer, { concurrency: "unbounded", discard: true })
            .pipe(Effect.zipRight(commitLast)),
          reader,
          sparseReader
        ], { concurrency: "unbounded" })

        expect(committed.size).toBeGreaterThan(TARGET_EVENTS)
        const seenIds = seen.map((e) => e.eventId)
        expect(new Set(seenIds).size).toBe(seenIds.length) // nothing twice
        expect(seenIds.length).toBe(committed.size) // nothing skipped
        expect(seenIds.every((id) => committed.has(id))).toBe(true)
        const lastVersion = new Map<string, number>()
        let outOfOrder = 0
        let positionInversions = 0
        let previousPosition = 0
        for (const event of seen) {
          const last = lastVersion.get(event.aggregateId) ?? 0
          if (event.version !== last + 1) outOfOrder++
          lastVersion.set(event.aggregateId, event.version)
          if (event.position < previousPosition) positionInversions++
          previousPosition = event.position
        }
        expect(outOfOrder).toBe(0)
        const sparseIds = sparseSeen.map((e) => e.eventId)
        expect(new Set(sparseIds).size).toBe(sparseIds.length)
        expect(sparseIds).toEqual(seen.filter((e) => inSparse(e.aggregateId)).map((e) => e.eventId))
        // the scenario really produced positions that commit out of order (what breaks naive readers)
        expect(positionInversions).toBeGreaterThan(0)
      }).pipe(Effect.provide(Live)),
    { timeout: 240_000 }
  )
})
