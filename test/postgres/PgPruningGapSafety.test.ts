/**
 * Pruning and the gap-safe read on PostgreSQL: with a transaction still open below the horizon,
 * a later event is committed but unreadable; pruning removes what the subscription has read, and
 * the read after its checkpoint still holds the late event back, then delivers it, and nothing
 * below a checkpoint ever shows up again.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { Checkpoints, EventStore, Pruning, type Retention, SubscriptionRegistry } from "effect-ddd"
import { SqlEventStore } from "effect-ddd/sql"
import { randomUUID } from "node:crypto"
import { olderTransaction, pgClient } from "../support/pg.js"

const retention: Retention.Policy = {
  aggregates: [{ aggregateType: "Order", events: "delivered", keepMillis: 1_000 }],
  processManagers: [],
  idempotencyMillis: 7 * 24 * 3_600_000,
  inboxMillis: 7 * 24 * 3_600_000
}

const append = (aggregateId: string) =>
  Effect.flatMap(EventStore.EventStore, (store) =>
    Effect.map(
      store.append({
        aggregateType: "Order",
        aggregateId,
        expectedVersion: 0,
        events: [{
          eventId: randomUUID(),
          aggregateType: "Order",
          aggregateId,
          version: 1,
          eventType: "Happened",
          schemaVersion: 1,
          payload: {},
          occurredAt: 0,
          metadata: {}
        }],
        state: { version: 1, state: {} }
      }),
      (stored) => stored[0]!
    ))

describe("PostgreSQL: pruning across the safe horizon", () => {
  it.live("pruned ranges below a checkpoint change nothing a reader sees after it; an event above the horizon is kept and delivered", () =>
    Effect.gen(function*() {
      const store = yield* EventStore.EventStore
      const checkpoints = yield* Checkpoints.Checkpoints
      const pruning = yield* Pruning.Pruning
      yield* (yield* SubscriptionRegistry.SubscriptionRegistry).register({
        name: "reader",
        kind: "projection",
        partitions: 1,
        sources: [{ aggregateType: "Order", eventTypes: [] }],
        registeredAt: 0
      })
      yield* append("a")
      yield* append("b")
      const first = yield* store.readPage(EventStore.logStart, 100)
      expect(first.events.map((e) => e.aggregateId)).toEqual(["a", "b"])
      yield* checkpoints.reset("reader", 0, first.next)

      // a transaction opened before the next event stays open: that event is committed but above the horizon
      const older = yield* olderTransaction
      yield* append("late")
      expect(yield* pruning.pruneBatch("events", 10_000, 100)).toBe(2)
      const held = yield* store.readPage(first.next, 100)
      expect(held.events).toEqual([])
      expect(held.heldBack).toBe(true)
      expect(held.next).toEqual(first.next)
      // the late event is not delivered: pruning keeps it
      expect(yield* pruning.pruneBatch("events", 10_000, 100)).toBe(0)
      yield* older.end

      const after = yield* store.readPage(first.next, 100)
      expect(after.events.map((e) => e.aggregateId)).toEqual(["late"])
      yield* checkpoints.reset("reader", 0, after.next)
      expect(yield* pruning.pruneBatch("events", 10_000, 100)).toBe(1)
      // the log is empty now; a read from the checkpoint stays where it is and a new event follows
      const empty = yield* store.readPage(after.next, 100)
      expect(empty.events).toEqual([])
      expect(empty.next).toEqual(after.next)
      yield* append("next")
      expect((yield* store.readPage(after.next, 100)).events.map((e) => e.aggregateId)).toEqual(["next"])
      // from the start, only what is kept: a new reader sees the kept event, never a pruned one
      expect((yield* store.readPage(EventStore.logStart, 100)).events.map((e) => e.aggregateId)).toEqual(["next"])
    }).pipe(
      Effect.provide(
        SqlEventStore.layer({ retention }).pipe(Layer.provideMerge(pgClient("prune-gaps", { maxConnections: 4 })))
      )
    ))
})
