/**
 * Pruning on SQL (tables `effect_ddd_retention` and `effect_ddd_pruned`, migration
 * `0008_retention`): each batch is one short transaction of bounded deletes, with the pruned mark
 * of the aggregate types it removed events of.
 */
import { Clock, Effect, Option, Schema } from "effect"
import { EventStoreError, type LogCursor } from "../../../ports/EventStore.js"
import * as Horizons from "../../../ports/internal/horizons.js"
import type { HeldBack, Plan, Service, Table } from "../../../ports/Pruning.js"
import * as Retention from "../../../ports/Retention.js"
import type { DeliveryQuery } from "./deliveryQuery.js"
import * as Dialect from "./dialect.js"
import * as PruningStatements from "./pruningStatements.js"
import * as SubscriptionRegistry from "./subscriptionRegistry.js"

type CursorRow = { readonly commit_order: number | string; readonly position: number | string }
type CountRow = { readonly n: number | string; readonly oldest?: number | string | null }

const cursorOf = (row: CursorRow): LogCursor => ({
  commitOrder: Dialect.readNumber(row.commit_order),
  position: Dialect.readNumber(row.position)
})

const decodePolicy = Schema.decodeUnknown(Retention.Policy)

export const make = (
  q: DeliveryQuery,
  configured: Retention.Policy | undefined,
  atomically: <A, E>(self: Effect.Effect<A, E>) => Effect.Effect<A, E | EventStoreError>
): Service => {
  const { query } = q
  const s = PruningStatements.make(q.dialect)
  const registry = SubscriptionRegistry.make(q)
  const count = (text: string, params: ReadonlyArray<unknown>) =>
    Effect.map(query<CountRow>(text, params, "count prunable rows"), (rows) => Dialect.readNumber(rows[0]?.n ?? 0))

  const recorded = Effect.flatMap(
    query<{ policy: unknown }>(s.selectPolicy, [], "read retention policy"),
    (rows) =>
      rows.length === 0 ? Effect.succeed(Retention.defaults) : decodePolicy(Dialect.readJson(rows[0]!.policy)).pipe(
        Effect.mapError((error) =>
          new EventStoreError({ reason: "Decode", detail: `read retention policy: ${error.message}`, cause: error })
        )
      )
  )
  const policy = configured === undefined ? recorded : Effect.succeed(configured)

  const horizons = Effect.map(
    Effect.all([
      registry.list,
      query<CursorRow & { subscription: string; partition: number | string }>(
        s.selectCheckpoints,
        [],
        "read checkpoints"
      )
    ]),
    ([subscriptions, rows]) =>
      Horizons.make(
        subscriptions,
        rows.map((row) => ({
          subscription: row.subscription,
          partition: Dialect.readNumber(row.partition),
          cursor: cursorOf(row)
        }))
      )
  )

  /** Delete returned cursors: move the type's pruned mark to the last of them. */
  const mark = (aggregateType: string, removed: ReadonlyArray<CursorRow>, now: number) => {
    const last = Horizons.last(removed.map(cursorOf))
    return last === undefined
      ? Effect.void
      : Effect.asVoid(query(s.markPruned, [aggregateType, last.commitOrder, last.position, now], "mark pruned"))
  }

  const pruneEvents = (p: Retention.Policy, now: number, limit: number) =>
    Effect.gen(function*() {
      const h = yield* horizons
      let removed = 0
      for (const a of p.aggregates) {
        if (a.events === "keep" || removed >= limit) continue
        const horizon = h.of(a.aggregateType)
        const rows = yield* atomically(Effect.tap(
          query<CursorRow>(s.deleteEvents(a.events === "beforeSnapshot"), [
            a.aggregateType,
            horizon.commitOrder,
            horizon.position,
            now - a.keepMillis,
            limit - removed
          ], "prune events"),
          (rows) => mark(a.aggregateType, rows, now)
        ))
        removed += rows.length
      }
      return removed
    })

  const pruneInstances = (p: Retention.Policy, now: number, limit: number) =>
    Effect.gen(function*() {
      const h = yield* horizons
      let removed = 0
      for (const pm of p.processManagers) {
        if (removed >= limit) break
        const horizon = h.of(pm.name)
        removed += yield* atomically(Effect.gen(function*() {
          const ids = (yield* query<{ aggregate_id: string }>(s.deleteInstances, [
            pm.name,
            now - pm.completedMillis,
            horizon.commitOrder,
            horizon.position,
            limit - removed
          ], "prune process instances")).map((row) => row.aggregate_id)
          if (ids.length === 0) return 0
          const json = JSON.stringify(ids)
          yield* mark(pm.name, yield* query<CursorRow>(s.deleteInstanceEvents, [pm.name, json], "prune events"), now)
          yield* query(s.deleteInstanceDeadlines, [pm.name, json], "prune deadlines")
          return ids.length
        }))
      }
      return removed
    })

  const pruneBatch = (table: Table, now: number, limit: number) =>
    Effect.flatMap(policy, (p): Effect.Effect<number, EventStoreError> => {
      switch (table) {
        case "events":
          return pruneEvents(p, now, limit)
        case "processInstances":
          return pruneInstances(p, now, limit)
        case "idempotency":
          return Effect.map(
            atomically(query(s.deleteIdempotency, [now - p.idempotencyMillis, limit], "prune idempotency records")),
            (rows) => rows.length
          )
        case "inbox":
          return Effect.map(
            atomically(query(s.deleteInbox, [now - p.inboxMillis, limit], "prune inbox")),
            (rows) => rows.length
          )
      }
    })

  const heldBack = (p: Retention.Policy, h: Horizons.Horizons, now: number) =>
    Effect.gen(function*() {
      const held: Array<HeldBack> = []
      for (const a of p.aggregates) {
        if (a.events === "keep") continue
        for (const [subscription, cursor] of h.readers(a.aggregateType)) {
          const [row] = yield* query<CountRow>(s.heldBack(a.events === "beforeSnapshot"), [
            a.aggregateType,
            now - a.keepMillis,
            cursor.commitOrder,
            cursor.position
          ], "read held back events")
          const events = Dialect.readNumber(row?.n ?? 0)
          if (events > 0 && row?.oldest != null) {
            held.push({
              subscription,
              aggregateType: a.aggregateType,
              events,
              since: Dialect.readNumber(row.oldest) + a.keepMillis
            })
          }
        }
      }
      return held
    })

  const plan = (now: number): Effect.Effect<Plan, EventStoreError> =>
    Effect.gen(function*() {
      const p = yield* policy
      const h = yield* horizons
      let events = 0
      for (const a of p.aggregates) {
        if (a.events === "keep") continue
        const horizon = h.of(a.aggregateType)
        events += yield* count(s.countEvents(a.events === "beforeSnapshot"), [
          a.aggregateType,
          horizon.commitOrder,
          horizon.position,
          now - a.keepMillis
        ])
      }
      let instances = 0
      for (const pm of p.processManagers) {
        const horizon = h.of(pm.name)
        instances += yield* count(s.countInstances, [
          pm.name,
          now - pm.completedMillis,
          horizon.commitOrder,
          horizon.position
        ])
      }
      const oldest = yield* query<{ occurred_at: number | string }>(s.selectOldest, [], "read oldest event")
      return {
        removable: {
          events,
          processInstances: instances,
          idempotency: yield* count(s.countIdempotency, [now - p.idempotencyMillis]),
          inbox: yield* count(s.countInbox, [now - p.inboxMillis])
        },
        heldBack: yield* heldBack(p, h, now),
        oldestEventKept: Option.map(Option.fromNullable(oldest[0]), (row) => Dialect.readNumber(row.occurred_at))
      }
    })

  return {
    policy,
    record: (p) =>
      Effect.flatMap(
        Clock.currentTimeMillis,
        (now) => Effect.asVoid(query(s.recordPolicy, [JSON.stringify(p), now], "record retention policy"))
      ),
    plan,
    heldBack: (now) => Effect.flatMap(Effect.all([policy, horizons]), ([p, h]) => heldBack(p, h, now)),
    pruneBatch,
    prunedThrough: Effect.map(
      query<CursorRow & { aggregate_type: string }>(s.selectPruned, [], "read pruned marks"),
      (rows) => new Map(rows.map((row) => [row.aggregate_type, cursorOf(row)]))
    )
  }
}
