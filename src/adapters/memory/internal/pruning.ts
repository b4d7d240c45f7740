/** Pruning over the in-memory database: the rules of the SQL adapter's, on the tables' values. */
import { Chunk, Effect, HashMap, Option } from "effect"
import type * as DomainEvent from "../../../core/DomainEvent.js"
import { isAfter, type LogCursor } from "../../../ports/EventStore.js"
import * as Horizons from "../../../ports/internal/horizons.js"
import type { HeldBack, Plan, Service, Table } from "../../../ports/Pruning.js"
import * as Retention from "../../../ports/Retention.js"
import { type Database, key, type Tables } from "./tables.js"

const cursorOf = (event: DomainEvent.Stored): LogCursor => ({ commitOrder: 0, position: event.position })

const horizonsOf = (tables: Tables) =>
  Horizons.make(
    Array.from(HashMap.values(tables.subscriptions)),
    Array.from(HashMap.entries(tables.checkpoints)).map(([k, cursor]) => {
      const at = k.lastIndexOf("\u0000")
      return { subscription: k.slice(0, at), partition: Number(k.slice(at + 1)), cursor }
    })
  )

const hasDeadLetter = (tables: Tables, aggregateType: string, aggregateId: string) => {
  for (const d of HashMap.values(tables.deadLetters)) {
    if (d.aggregateType === aggregateType && d.aggregateId === aggregateId) return true
  }
  return false
}

const stateVersion = (tables: Tables, event: DomainEvent.Stored) =>
  Option.match(HashMap.get(tables.states, key(event.aggregateType, event.aggregateId)), {
    onNone: () => 0,
    onSome: (s) => s.version
  })

/** Whether an event may go under an aggregate type's rule. */
const removable = (tables: Tables, a: Retention.EventRetention, horizon: LogCursor, now: number) =>
(
  event: DomainEvent.Stored
) =>
  event.aggregateType === a.aggregateType && !isAfter(cursorOf(event), horizon) &&
  event.occurredAt < now - a.keepMillis && !hasDeadLetter(tables, event.aggregateType, event.aggregateId) &&
  (a.events !== "beforeSnapshot" || event.version <= stateVersion(tables, event))

const isFinished = (state: unknown) => {
  const status = (state as { readonly status?: unknown } | null)?.status
  return status === "completed" || status === "compensated"
}

/** The finished instances of a process manager that may go. */
const finishedInstances = (tables: Tables, pm: Retention.ProcessRetention, horizon: LogCursor, now: number) => {
  const ids: Array<string> = []
  for (const [k, state] of HashMap.entries(tables.states)) {
    const prefix = `${pm.name}\u0000`
    if (!k.startsWith(prefix) || !isFinished(state.state)) continue
    const id = k.slice(prefix.length)
    const events = Option.getOrElse(HashMap.get(tables.streams, k), () => Chunk.empty<DomainEvent.Stored>())
    const young = Chunk.some(events, (e) => e.occurredAt >= now - pm.completedMillis || isAfter(cursorOf(e), horizon))
    if (!young && !hasDeadLetter(tables, pm.name, id)) ids.push(id)
  }
  return ids
}

/** Remove events from the log and their streams; move the pruned marks. */
const removeEvents = (tables: Tables, events: ReadonlyArray<DomainEvent.Stored>): Tables => {
  if (events.length === 0) return tables
  const log = Chunk.toArray(tables.log)
  let streams = tables.streams
  let pruned = tables.pruned
  for (const event of events) {
    log[event.position - 1] = undefined
    const k = key(event.aggregateType, event.aggregateId)
    streams = HashMap.modify(streams, k, Chunk.filter((e) => e.position !== event.position))
    const mark = HashMap.get(pruned, event.aggregateType)
    if (Option.isNone(mark) || isAfter(cursorOf(event), mark.value)) {
      pruned = HashMap.set(pruned, event.aggregateType, cursorOf(event))
    }
  }
  return { ...tables, log: Chunk.unsafeFromArray(log), streams, pruned }
}

const liveEvents = (tables: Tables) => Chunk.filter(tables.log, (e): e is DomainEvent.Stored => e !== undefined)

const pruneTables = (tables: Tables, p: Retention.Policy, table: Table, now: number, limit: number) => {
  const h = horizonsOf(tables)
  switch (table) {
    case "events": {
      const chosen: Array<DomainEvent.Stored> = []
      for (const a of p.aggregates) {
        if (a.events === "keep") continue
        const test = removable(tables, a, h.of(a.aggregateType), now)
        for (const event of liveEvents(tables)) {
          if (chosen.length >= limit) break
          if (test(event)) chosen.push(event)
        }
      }
      return [chosen.length, removeEvents(tables, chosen)] as const
    }
    case "processInstances": {
      let next = tables
      let removed = 0
      for (const pm of p.processManagers) {
        for (const id of finishedInstances(tables, pm, h.of(pm.name), now).slice(0, limit - removed)) {
          const k = key(pm.name, id)
          const events = Chunk.toReadonlyArray(
            Option.getOrElse(HashMap.get(next.streams, k), () => Chunk.empty<DomainEvent.Stored>())
          )
          next = removeEvents(next, events)
          next = {
            ...next,
            states: HashMap.remove(next.states, k),
            streams: HashMap.remove(next.streams, k),
            deadlines: HashMap.modify(next.deadlines, pm.name, HashMap.filter((d) => d.instanceId !== id))
          }
          removed++
        }
      }
      return [removed, next] as const
    }
    case "idempotency": {
      const expired = Array.from(HashMap.values(tables.idempotency))
        .filter((r) => r.createdAt < now - p.idempotencyMillis).slice(0, limit)
      return [
        expired.length,
        { ...tables, idempotency: expired.reduce((m, r) => HashMap.remove(m, r.key), tables.idempotency) }
      ] as const
    }
    case "inbox": {
      const expired = Array.from(HashMap.entries(tables.inbox))
        .filter(([, at]) => at < now - p.inboxMillis).slice(0, limit)
      return [
        expired.length,
        { ...tables, inbox: expired.reduce((m, [k]) => HashMap.remove(m, k), tables.inbox) }
      ] as const
    }
  }
}

const planOf = (tables: Tables, p: Retention.Policy, now: number): Plan => {
  const h = horizonsOf(tables)
  const live = Chunk.toReadonlyArray(liveEvents(tables))
  let events = 0
  const heldBack: Array<HeldBack> = []
  for (const a of p.aggregates) {
    if (a.events === "keep") continue
    events += live.filter(removable(tables, a, h.of(a.aggregateType), now)).length
    for (const [subscription, cursor] of h.readers(a.aggregateType)) {
      const held = live.filter((e) =>
        e.aggregateType === a.aggregateType && e.occurredAt < now - a.keepMillis && isAfter(cursorOf(e), cursor) &&
        (a.events !== "beforeSnapshot" || e.version <= stateVersion(tables, e))
      )
      if (held.length > 0) {
        const oldest = Math.min(...held.map((e) => e.occurredAt))
        heldBack.push({
          subscription,
          aggregateType: a.aggregateType,
          events: held.length,
          since: oldest + a.keepMillis
        })
      }
    }
  }
  return {
    removable: {
      events,
      processInstances: p.processManagers.reduce(
        (n, pm) => n + finishedInstances(tables, pm, h.of(pm.name), now).length,
        0
      ),
      idempotency:
        Array.from(HashMap.values(tables.idempotency)).filter((r) => r.createdAt < now - p.idempotencyMillis).length,
      inbox: Array.from(HashMap.values(tables.inbox)).filter((at) => at < now - p.inboxMillis).length
    },
    heldBack,
    oldestEventKept: live.length === 0 ? Option.none() : Option.some(live[0]!.occurredAt)
  }
}

export const make = (db: Database, configured: Retention.Policy | undefined): Service => {
  const policyOf = (tables: Tables) => configured ?? tables.retention ?? Retention.defaults
  return {
    policy: Effect.map(db.get, policyOf),
    record: (policy) => db.modify((tables) => [undefined, { ...tables, retention: policy }] as const),
    plan: (now) => Effect.map(db.get, (tables) => planOf(tables, policyOf(tables), now)),
    heldBack: (now) => Effect.map(db.get, (tables) => planOf(tables, policyOf(tables), now).heldBack),
    pruneBatch: (table, now, limit) => db.modify((tables) => pruneTables(tables, policyOf(tables), table, now, limit)),
    prunedThrough: Effect.map(db.get, (tables) => new Map(HashMap.entries(tables.pruned)))
  }
}
