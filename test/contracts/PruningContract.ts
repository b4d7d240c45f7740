/**
 * Behaviour every adapter of `Pruning` must have, with the stores it prunes:
 * `suite("SQLite", (retention) => SqlEventStore.layer({ retention }).pipe(Layer.provide(client)))`,
 * each test on a new, empty database. Time is the TestClock (commands, inbox) or passed as `now`.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Exit, type Layer, Option, TestClock } from "effect"
import {
  Aggregate,
  Checkpoints,
  CommandHandler,
  DeadLetters,
  Deadlines,
  EventStore,
  Inbox,
  Pruner,
  Pruning,
  Retention,
  SubscriptionRegistry
} from "effect-ddd"
import { randomUUID } from "node:crypto"
import { Inventory } from "../../examples/http-server/Domain/Inventory.js"
import { Sku } from "../../examples/http-server/Domain/Order.js"

export type Stores =
  | EventStore.EventStore
  | Checkpoints.Checkpoints
  | DeadLetters.DeadLetters
  | Deadlines.Deadlines
  | Inbox.Inbox
  | SubscriptionRegistry.SubscriptionRegistry
  | Pruning.Pruning

const DAY = 24 * 60 * 60 * 1000
const keep = 1_000

/** Order: state-stored (delivered events go after `keep`); Ledger: event-sourced (kept); Snap: beforeSnapshot. */
const policy: Retention.Policy = {
  aggregates: [
    { aggregateType: "Order", events: "delivered", keepMillis: keep },
    { aggregateType: "Ledger", events: "keep", keepMillis: keep },
    { aggregateType: "Snap", events: "beforeSnapshot", keepMillis: keep }
  ],
  processManagers: [{ name: "Saga", completedMillis: keep }],
  idempotencyMillis: 7 * DAY,
  inboxMillis: 7 * DAY
}

const append = (
  aggregateType: string,
  aggregateId: string,
  versions: ReadonlyArray<number>,
  occurredAt: number,
  state?: unknown
) =>
  Effect.flatMap(EventStore.EventStore, (store) =>
    store.append({
      aggregateType,
      aggregateId,
      expectedVersion: versions[0]! - 1,
      events: versions.map((version) => ({
        eventId: randomUUID(),
        aggregateType,
        aggregateId,
        version,
        eventType: "Happened",
        schemaVersion: 1,
        payload: { version },
        occurredAt,
        metadata: {}
      })),
      ...(state === undefined ? {} : { state: { version: versions[versions.length - 1]!, state } })
    }))

const register = (name: string, aggregateTypes: ReadonlyArray<string>, partitions = 1) =>
  Effect.flatMap(SubscriptionRegistry.SubscriptionRegistry, (registry) =>
    registry.register({
      name,
      kind: "projection",
      partitions,
      sources: aggregateTypes.map((aggregateType) => ({ aggregateType, eventTypes: [] })),
      registeredAt: 0
    }))

/** Move a subscription's checkpoint (its first `partitions` partitions) to just after the event at `position`. */
const deliveredThrough = (name: string, position: number, partitions = 1) =>
  Effect.gen(function*() {
    const store = yield* EventStore.EventStore
    const checkpoints = yield* Checkpoints.Checkpoints
    const event = (yield* store.readAll(EventStore.logStart, 10_000)).find((e) => e.position === position)!
    for (let p = 0; p < partitions; p++) yield* checkpoints.reset(name, p, EventStore.cursorOf(event))
  })

const positions = (aggregateType: string) =>
  Effect.flatMap(EventStore.EventStore, (store) =>
    Effect.map(
      store.readAll(EventStore.logStart, 10_000),
      (all) => all.filter((e) => e.aggregateType === aggregateType).map((e) => e.version)
    ))

const pruneAll = (table: Pruning.Table, now: number) =>
  Effect.flatMap(Pruning.Pruning, (pruning) => pruning.pruneBatch(table, now, 10_000))

export const suite = <E>(
  name: string,
  stores: (retention: Retention.Policy | undefined) => Layer.Layer<Stores, E>
) =>
  describe(`Pruning contract: ${name}`, { timeout: 120_000 }, () => {
    /** On new stores with `retention` (null: none configured). */
    const run = <A, E2>(effect: Effect.Effect<A, E2, Stores>, retention: Retention.Policy | null = policy) =>
      Effect.provide(effect, stores(retention ?? undefined))

    it.effect("state-stored events go only once every subscription reading them delivered them and they are old enough", () =>
      run(Effect.gen(function*() {
        const pruning = yield* Pruning.Pruning
        const [first] = yield* append("Order", "o1", [1, 2, 3], 0, { n: 3 })
        yield* append("Order", "o2", [1], 0, { n: 1 })
        yield* register("fast", ["Order"])
        yield* register("slow", ["Order"])
        yield* register("elsewhere", ["Other"]) // reads nothing of Order: holds nothing back
        const all = yield* positions("Order")
        expect(all).toEqual([1, 2, 3, 1])
        yield* deliveredThrough("fast", first!.position + 3)
        yield* deliveredThrough("slow", first!.position)

        // delivered by both, but not older than the retention period: kept
        expect(yield* pruneAll("events", keep - 1)).toBe(0)
        const plan = yield* pruning.plan(keep + 1)
        expect(plan.removable.events).toBe(1)
        expect(plan.heldBack).toEqual([{ subscription: "slow", aggregateType: "Order", events: 3, since: keep }])
        expect(plan.oldestEventKept).toEqual(Option.some(0))

        expect(yield* pruneAll("events", keep + 1)).toBe(1)
        expect(yield* positions("Order")).toEqual([2, 3, 1])
        // the slow subscription catches up: the rest goes
        yield* deliveredThrough("slow", first!.position + 3)
        expect(yield* pruneAll("events", keep + 1)).toBe(3)
        expect(yield* positions("Order")).toEqual([])
        expect((yield* pruning.plan(keep + 1)).heldBack).toEqual([])
        expect((yield* pruning.prunedThrough).get("Order")?.position).toBe(first!.position + 3)
      })))

    it.effect("a registered subscription that never delivered (paused before its first checkpoint) holds everything back", () =>
      run(Effect.gen(function*() {
        const [first] = yield* append("Order", "o1", [1, 2], 0, { n: 2 })
        yield* register("running", ["Order"])
        yield* register("paused", ["Order"], 4)
        yield* deliveredThrough("running", first!.position + 1)
        // control: with only the running subscription, both events could go
        const pruning = yield* Pruning.Pruning
        expect((yield* pruning.plan(keep + 1)).heldBack.map((h) => h.subscription)).toEqual(["paused"])
        expect(yield* pruneAll("events", keep + 1)).toBe(0)
        // three of its four partitions caught up: the fourth still holds it back
        yield* deliveredThrough("paused", first!.position + 1, 3)
        expect(yield* pruneAll("events", keep + 1)).toBe(0)
        yield* deliveredThrough("paused", first!.position + 1, 4)
        expect(yield* pruneAll("events", keep + 1)).toBe(2)
      })))

    it.effect("event-sourced events are kept; beforeSnapshot keeps what the latest snapshot does not cover; a dead letter keeps its aggregate's events", () =>
      run(Effect.gen(function*() {
        yield* append("Ledger", "l1", [1, 2], 0)
        yield* append("Snap", "s1", [1, 2, 3], 0, { snapshotOf: 3 })
        yield* append("Snap", "s1", [4, 5], 0) // after the snapshot: needed to load
        const [dead] = yield* append("Order", "held", [1], 0, { n: 1 })
        yield* append("Order", "free", [1], 0, { n: 1 })
        yield* (yield* DeadLetters.DeadLetters).add({
          id: randomUUID(),
          subscription: "s",
          partition: 0,
          kind: "failed",
          eventId: dead!.eventId,
          position: dead!.position,
          aggregateType: "Order",
          aggregateId: "held",
          version: 1,
          eventType: "Happened",
          error: "boom",
          attempts: 3,
          firstFailedAt: 0,
          lastFailedAt: 0,
          status: "open"
        })
        expect(yield* pruneAll("events", DAY)).toBe(4) // Snap 1..3 and Order/free
        expect(yield* positions("Ledger")).toEqual([1, 2])
        expect(yield* positions("Snap")).toEqual([4, 5])
        expect(yield* positions("Order")).toEqual([1])
        // the aggregate still loads: its snapshot and the events after it
        const store = yield* EventStore.EventStore
        expect((yield* store.readStream("Snap", "s1", 3)).map((e) => e.version)).toEqual([4, 5])
      })))

    it.effect("a state-stored aggregate whose events were pruned takes new commands (its version is its state row's)", () =>
      run(Effect.gen(function*() {
        yield* append("Order", "o1", [1, 2], 0, { n: 2 })
        expect(yield* pruneAll("events", DAY)).toBe(2)
        const [next] = yield* append("Order", "o1", [3], DAY, { n: 3 })
        expect(next!.version).toBe(3)
        const conflict = yield* Effect.exit(append("Order", "o1", [3], DAY, { n: 3 }))
        expect(Exit.isFailure(conflict)).toBe(true)
      })))

    it.effect("a replay from before the pruned range fails with EventsPruned; from after it, it is allowed", () =>
      run(Effect.gen(function*() {
        const [first] = yield* append("Order", "o1", [1, 2], 0, { n: 2 })
        yield* append("Ledger", "l1", [1], 0)
        expect(yield* pruneAll("events", DAY)).toBe(2)
        const failed = yield* Effect.flip(Pruning.ensureReadable(["Ledger", "Order"], EventStore.logStart))
        expect(failed._tag).toBe("EventsPruned")
        expect(failed).toMatchObject({ aggregateType: "Order", prunedThrough: first!.position + 1, from: 1 })
        expect(failed.message).toContain(`replay from position ${first!.position + 2} or later`)
        // a source never pruned, or a start after the pruned range: nothing missed
        yield* Pruning.ensureReadable(["Ledger"], EventStore.logStart)
        yield* Pruning.ensureReadable(["Order"], { commitOrder: Number.MAX_SAFE_INTEGER, position: 0 })
      })))

    it.effect("finished process-manager instances go with their events and deadlines; running ones stay", () =>
      run(Effect.gen(function*() {
        yield* append("Saga", "done", [1, 2], 0, { status: "completed", steps: [] })
        yield* append("Saga", "undone", [1], 0, { status: "compensated", steps: [] })
        yield* append("Saga", "running", [1], 0, { status: "running", steps: [] })
        yield* append("Saga", "recent", [1], keep * 10, { status: "completed", steps: [] })
        const deadlines = yield* Deadlines.Deadlines
        yield* deadlines.set("Saga", "done", [{ name: "timeout", dueAt: 5 }])
        yield* deadlines.set("Saga", "running", [{ name: "timeout", dueAt: 5 }])
        const pruning = yield* Pruning.Pruning
        expect((yield* pruning.plan(keep + 1)).removable.processInstances).toBe(2)
        expect(yield* pruneAll("processInstances", keep + 1)).toBe(2)
        const store = yield* EventStore.EventStore
        expect(yield* store.readState("Saga", "done")).toEqual(Option.none())
        expect(yield* store.readState("Saga", "undone")).toEqual(Option.none())
        expect(Option.isSome(yield* store.readState("Saga", "running"))).toBe(true)
        expect(Option.isSome(yield* store.readState("Saga", "recent"))).toBe(true)
        expect(yield* store.readStream("Saga", "done", 0)).toEqual([])
        expect((yield* deadlines.due("Saga", 10, 10)).map((d) => d.instanceId)).toEqual(["running"])
      })))

    it.effect("an idempotent repeat inside the window returns the first result; after it, the key is free again", () =>
      run(
        Effect.gen(function*() {
          const sku = Sku.make(`sku-${randomUUID()}`)
          const first = yield* CommandHandler.execute(Inventory, sku, "restock", { quantity: 1 }, {
            idempotencyKey: "k1"
          })
          yield* TestClock.adjust(Duration.days(6))
          expect((yield* Pruner.run()).removed.idempotency).toBe(0)
          const repeat = yield* CommandHandler.execute(Inventory, sku, "restock", { quantity: 1 }, {
            idempotencyKey: "k1"
          })
          expect(repeat.replayed).toBe(true)
          expect(repeat.version).toBe(first.version)
          yield* TestClock.adjust(Duration.days(2))
          expect((yield* Pruner.run()).removed.idempotency).toBe(1)
          const again = yield* CommandHandler.execute(Inventory, sku, "restock", { quantity: 1 }, {
            idempotencyKey: "k1"
          })
          expect(again.replayed).toBe(false)
          expect(again.version).toBe(first.version + 1)
        }).pipe(Effect.provide(CommandHandler.layer()))
      ))

    it.effect("an inbox row inside the window makes a redelivery a no-op; after it, it is pruned", () =>
      run(Effect.gen(function*() {
        let applied = 0
        const apply = Effect.sync(() => applied++)
        expect(yield* Inbox.once(apply, "consumer", "m1")).toBe(true)
        yield* TestClock.adjust(Duration.days(7))
        expect((yield* Pruner.run()).removed.inbox).toBe(0)
        expect(yield* Inbox.once(apply, "consumer", "m1")).toBe(false)
        expect(applied).toBe(1)
        yield* TestClock.adjust(Duration.millis(1))
        const report = yield* Pruner.run()
        expect(report.removed.inbox).toBe(1)
        expect(report.after.removable.inbox).toBe(0)
      })))

    it.effect("a window shorter than the longest redelivery window is refused", () =>
      Effect.sync(() => {
        expect(() => Retention.policy({ inbox: "1 day" })).toThrow(/inbox window .* shorter than/)
        expect(() => Retention.policy({ idempotency: "6 days" })).toThrow(/idempotency window/)
        expect(() => Retention.policy({ aggregates: [Inventory], events: "59 minutes" })).toThrow(/kept at least 1h/)
        const p = Retention.policy({
          aggregates: [Inventory, Inventory.pipe(Aggregate.withPersistence(Aggregate.eventSourced()))],
          events: "1 hour"
        })
        expect(p.aggregates.map((a) => a.events)).toEqual(["delivered", "keep"])
        expect(p.aggregates[0]!.keepMillis).toBe(60 * 60 * 1000)
        expect(p.inboxMillis).toBe(7 * DAY)
      }))

    it.effect("the store's policy is the one configured; a store without one applies the one recorded", () =>
      run(
        Effect.gen(function*() {
          const pruning = yield* Pruning.Pruning
          expect(yield* pruning.policy).toEqual(Retention.defaults)
          yield* pruning.record(policy)
          expect(yield* pruning.policy).toEqual(policy)
        }),
        null
      ))
  })
