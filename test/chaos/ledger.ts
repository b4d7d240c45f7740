/**
 * The ledger check of a chaos run: the database, read directly through the library's EventStore
 * and the delivery stores (never through the server), against what the clients were told (`Journal`).
 *
 * - lost: an accepted command whose events are missing (an accepted order not placed, an
 *   accepted cancel not cancelled, fewer restocks than accepted, a gap in a stream's versions);
 * - duplicated: an effect that happened twice (an order placed twice, more restocks than sent,
 *   a reservation, sale, release or return twice for one order and SKU, a payment requested or
 *   settled twice, a saga command issued, executed or settled twice);
 * - stuck: what has not finished once the system is quiet (an order pending, a saga instance not
 *   started, compensating or with a step pending, stock still reserved, a subscription partition
 *   behind the head of the log, a dead letter, a deadline left);
 * - wrong: anything else that breaks the rules (stock sold to an order that is not confirmed, a
 *   declined customer confirmed, a stored state that is not the fold of its events).
 */
import type { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { Effect, Layer, ManagedRuntime, Option, Redacted } from "effect"
import { EventStore, Subscription } from "effect-ddd"
import { SqlEventStore } from "effect-ddd/sql"
import { delivered } from "../../examples/http-server/Fulfilment.js"
import { makeFulfilment } from "../../examples/http-server/OrderFulfilment.js"
import { delivery } from "../support/stores.js"
import type { Journal, Line } from "./journal.js"

export type ProblemKind = "lost" | "duplicated" | "stuck" | "wrong"

export interface Problem {
  readonly kind: ProblemKind
  readonly detail: string
}

export interface Report {
  readonly events: number
  readonly orders: {
    readonly confirmed: number
    readonly rejected: number
    readonly cancelled: number
    readonly pending: number
  }
  /** Rejected orders by reason. */
  readonly reasons: Record<string, number>
  readonly problems: ReadonlyArray<Problem>
  /** Problems by kind. */
  readonly count: Record<ProblemKind, number>
}

/** The example server's process manager (its name and its deadlines). */
const fulfilment = makeFulfilment()

interface Payload {
  readonly [key: string]: any
}

interface OrderFacts {
  readonly placed: Array<Payload>
  /** The client keys the order was placed with (`orders:<key>`). */
  readonly keys: Array<string>
  status: string
  reason?: string
  readonly counts: Record<string, number>
}

interface StockFacts {
  restocked: number
  restocks: number
  available: number
  reserved: number
  sold: number
  version: number
  /** Per order: how many times each event happened. */
  readonly orders: Map<string, Record<string, number>>
}

interface ProcessFacts {
  status: string
  readonly issued: Map<number, { count: number; aggregateType: string; aggregateId: string }>
  readonly settled: Map<number, number>
}

const bump = (counts: Record<string, number>, key: string) => (counts[key] = (counts[key] ?? 0) + 1)

/** The facts of the log, folded event by event. */
class Facts {
  events = 0
  readonly orders = new Map<string, OrderFacts>()
  readonly stock = new Map<string, StockFacts>()
  readonly payments = new Map<string, Record<string, number>>()
  readonly processes = new Map<string, ProcessFacts>()
  /** Per saga idempotency key: the events its execution wrote. */
  readonly keyed = new Map<string, Array<{ aggregateType: string; aggregateId: string; eventType: string }>>()
  readonly versions = new Map<string, number>()
  readonly problems: Array<Problem> = []

  ingest(event: EventStore.LoggedEvent) {
    this.events++
    const stream = `${event.aggregateType}/${event.aggregateId}`
    const last = this.versions.get(stream) ?? 0
    if (event.version !== last + 1) {
      this.problems.push({ kind: "lost", detail: `${stream}: version ${event.version} follows ${last}` })
    }
    this.versions.set(stream, event.version)
    const key = event.metadata.idempotencyKey
    if (key !== undefined && key.startsWith(`${fulfilment.name}:`)) {
      const writes = this.keyed.get(key) ?? []
      writes.push({ aggregateType: event.aggregateType, aggregateId: event.aggregateId, eventType: event.eventType })
      this.keyed.set(key, writes)
    }
    const payload = event.payload as Payload
    switch (event.aggregateType) {
      case "Order":
        return this.order(event, payload)
      case "Inventory":
        return this.inventory(event, payload)
      case "Payment": {
        const counts = this.payments.get(event.aggregateId) ?? {}
        bump(counts, event.eventType)
        this.payments.set(event.aggregateId, counts)
        return
      }
      case fulfilment.name:
        return this.process(event, payload)
    }
  }

  private order(event: EventStore.LoggedEvent, payload: Payload) {
    const facts = this.orders.get(event.aggregateId) ?? { placed: [], keys: [], status: "new", counts: {} }
    this.orders.set(event.aggregateId, facts)
    bump(facts.counts, event.eventType)
    switch (event.eventType) {
      case "OrderPlaced":
        facts.placed.push(payload)
        if (event.metadata.idempotencyKey !== undefined) facts.keys.push(event.metadata.idempotencyKey)
        facts.status = "pending"
        return
      case "OrderConfirmed":
        facts.status = "confirmed"
        return
      case "OrderRejected":
        facts.status = "rejected"
        facts.reason = payload.reason
        return
      case "OrderCancelled":
        facts.status = "cancelled"
    }
  }

  private inventory(event: EventStore.LoggedEvent, payload: Payload) {
    const facts = this.stock.get(event.aggregateId) ??
      { restocked: 0, restocks: 0, available: 0, reserved: 0, sold: 0, version: 0, orders: new Map() }
    this.stock.set(event.aggregateId, facts)
    facts.version = event.version
    const quantity = payload.quantity as number
    if (event.eventType === "StockRestocked") {
      facts.restocked += quantity
      facts.restocks++
      facts.available += quantity
      return
    }
    const counts = facts.orders.get(payload.orderId) ?? {}
    facts.orders.set(payload.orderId, counts)
    bump(counts, event.eventType)
    switch (event.eventType) {
      case "StockReserved":
        facts.available -= quantity
        facts.reserved += quantity
        return
      case "StockReleased":
        facts.available += quantity
        facts.reserved -= quantity
        return
      case "StockSold":
        facts.reserved -= quantity
        facts.sold += quantity
        return
      case "StockReturned":
        facts.sold -= quantity
        facts.available += quantity
    }
  }

  private process(event: EventStore.LoggedEvent, payload: Payload) {
    const facts = this.processes.get(event.aggregateId) ?? { status: "new", issued: new Map(), settled: new Map() }
    this.processes.set(event.aggregateId, facts)
    switch (event.eventType) {
      case "ProcessAdvanced":
        facts.status = payload.status
        return
      case "CommandIssued": {
        const issued = facts.issued.get(payload.step)
        if (issued !== undefined) issued.count++
        else {facts.issued.set(payload.step, {
            count: 1,
            aggregateType: payload.aggregateType,
            aggregateId: payload.aggregateId
          })}
        return
      }
      case "CommandSettled":
        facts.settled.set(payload.step, (facts.settled.get(payload.step) ?? 0) + 1)
    }
  }
}

/** The units per SKU of an order's lines (lines of one SKU are served together). */
const unitsOf = (lines: ReadonlyArray<Line>) => {
  const units = new Map<string, number>()
  for (const line of lines) units.set(line.sku, (units.get(line.sku) ?? 0) + line.quantity)
  return units
}

const sameLines = (a: ReadonlyArray<Line>, b: ReadonlyArray<Line>) =>
  JSON.stringify(a.map((l) => [l.sku, l.quantity])) === JSON.stringify(b.map((l) => [l.sku, l.quantity]))

/** What has not finished: checked while waiting for quiet, and in the final check. */
const stuck = (facts: Facts) =>
  Effect.gen(function*() {
    const store = yield* EventStore.EventStore
    const { checkpoints, deadLetters, deadlines } = yield* delivery
    const problems: Array<Problem> = []
    const add = (detail: string) => problems.push({ kind: "stuck", detail })
    for (const [orderId, order] of facts.orders) {
      if (order.status === "pending") add(`order ${orderId} is pending`)
      const process = facts.processes.get(orderId)
      if (process === undefined || process.status === "new") add(`process ${orderId} never started`)
      else if (process.status === "compensating") add(`process ${orderId} is still compensating`)
      for (const [step] of process?.issued ?? []) {
        if (!process!.settled.has(step)) add(`process ${orderId}: step ${step} never settled`)
      }
    }
    for (const [sku, stock] of facts.stock) {
      if (stock.reserved !== 0) add(`${sku}: ${stock.reserved} still reserved`)
    }
    for (const subscription of delivered) {
      for (let partition = 0; partition < subscription.partitions; partition++) {
        const cursor = yield* checkpoints.get(subscription.name, partition)
        const behind = yield* store.readAll(cursor, 1, Subscription.logFilter(subscription, partition))
        if (behind.length > 0) {
          add(`${subscription.name}/${partition}: checkpoint behind the head (next: position ${behind[0]!.position})`)
        }
      }
    }
    for (const letter of yield* deadLetters.list({})) {
      add(`dead letter ${letter.id} (${letter.kind}): ${letter.error.slice(0, 200)}`)
    }
    const next = yield* deadlines.next(fulfilment.name)
    if (Option.isSome(next)) {
      add(`${fulfilment.name}: a deadline is left (due at ${new Date(next.value).toISOString()})`)
    }
    return problems
  })

/** Everything but `stuck`: the database against the journal, and the rules of the domain. */
const audit = (facts: Facts, journal: Journal) =>
  Effect.gen(function*() {
    const store = yield* EventStore.EventStore
    const problems: Array<Problem> = []
    const add = (kind: ProblemKind, detail: string) => problems.push({ kind, detail })

    // orders: each answered one placed once, as sent; none placed that no client was told about
    const told = new Map(journal.orders.map((order) => [order.orderId, order]))
    if (told.size !== journal.orders.length) add("duplicated", "two client orders were answered with the same order id")
    for (const order of journal.orders) {
      const stored = facts.orders.get(order.orderId)
      if (stored === undefined || stored.placed.length === 0) {
        add("lost", `order ${order.orderId} was accepted but never placed`)
        continue
      }
      const placed = stored.placed[0]!
      if (placed.customerId !== order.customerId || !sameLines(placed.lines, order.lines)) {
        add("wrong", `order ${order.orderId} was placed as ${JSON.stringify(placed)}, sent as ${JSON.stringify(order)}`)
      }
      if (!stored.keys.includes(`orders:${order.key}`)) {
        add("wrong", `order ${order.orderId} was not placed with its key`)
      }
    }
    const byKey = new Map<string, number>()
    for (const [orderId, order] of facts.orders) {
      if (order.placed.length === 0) add("wrong", `order ${orderId} has events but was never placed`)
      if (order.placed.length > 1) add("duplicated", `order ${orderId} placed ${order.placed.length} times`)
      if (order.placed.length > 0 && !told.has(orderId)) {
        add("duplicated", `order ${orderId} was placed but no client was told`)
      }
      for (const key of order.keys) {
        byKey.set(key, (byKey.get(key) ?? 0) + 1)
      }
      for (const tag of ["OrderConfirmed", "OrderRejected", "OrderCancelled"]) {
        if ((order.counts[tag] ?? 0) > 1) add("duplicated", `order ${orderId}: ${tag} ${order.counts[tag]} times`)
      }
      if (order.counts["OrderConfirmed"] && order.counts["OrderRejected"]) {
        add("wrong", `order ${orderId} confirmed and rejected`)
      }
    }
    for (const [key, count] of byKey) if (count > 1) add("duplicated", `key ${key} placed ${count} orders`)

    // cancels: an accepted one leaves the order cancelled
    for (const cancel of journal.cancels) {
      if (cancel.outcome === "accepted" && facts.orders.get(cancel.orderId)?.status !== "cancelled") {
        add(
          "lost",
          `order ${cancel.orderId}: the cancel was accepted, the order is ${facts.orders.get(cancel.orderId)?.status}`
        )
      }
    }

    // restocks: between the accepted ones and the accepted plus those of unknown outcome
    const skus = new Set([...journal.restocks.map((r) => r.sku), ...facts.stock.keys()])
    for (const sku of skus) {
      const sent = journal.restocks.filter((r) => r.sku === sku)
      const accepted = sent.filter((r) => r.outcome === "accepted")
      const maybe = sent.filter((r) => r.outcome !== "refused")
      const sum = (rs: ReadonlyArray<{ quantity: number }>) => rs.reduce((total, r) => total + r.quantity, 0)
      const stock = facts.stock.get(sku)
      const [restocks, restocked] = [stock?.restocks ?? 0, stock?.restocked ?? 0]
      if (restocks < accepted.length || restocked < sum(accepted)) {
        add(
          "lost",
          `${sku}: ${restocks} restocks (${restocked} units), ${accepted.length} accepted (${sum(accepted)} units)`
        )
      }
      if (restocks > maybe.length || restocked > sum(maybe)) {
        add(
          "duplicated",
          `${sku}: ${restocks} restocks (${restocked} units), at most ${maybe.length} sent (${sum(maybe)} units)`
        )
      }
    }

    // stock: per order and SKU each movement once, and what the order's end says
    const soldTo = new Map<string, number>()
    for (const [sku, stock] of facts.stock) {
      if (stock.available < 0) add("wrong", `${sku}: available ${stock.available}`)
      for (const [orderId, counts] of stock.orders) {
        for (const [tag, count] of Object.entries(counts)) {
          if (count > 1) add("duplicated", `${sku}, order ${orderId}: ${tag} ${count} times`)
        }
        const reserved = counts["StockReserved"] ?? 0
        if ((counts["StockReleased"] ?? 0) + (counts["StockSold"] ?? 0) > reserved) {
          add("wrong", `${sku}, order ${orderId}: released or sold more than reserved (${JSON.stringify(counts)})`)
        }
        if ((counts["StockReturned"] ?? 0) > (counts["StockSold"] ?? 0)) {
          add("wrong", `${sku}, order ${orderId}: returned more than sold (${JSON.stringify(counts)})`)
        }
        const net = (counts["StockSold"] ?? 0) - (counts["StockReturned"] ?? 0)
        if (net > 0) soldTo.set(`${sku}|${orderId}`, net)
      }
    }
    const confirmedUnits = new Map<string, number>()
    for (const [orderId, order] of facts.orders) {
      const placed = order.placed[0]
      if (placed === undefined) continue
      const customer = placed.customerId as string
      if (order.status === "confirmed") {
        if (customer.startsWith("declined-")) add("wrong", `order ${orderId} of a declined customer was confirmed`)
        if ((facts.payments.get(orderId)?.["PaymentCharged"] ?? 0) !== 1) {
          add("wrong", `order ${orderId} confirmed without a charge`)
        }
        for (const [sku, units] of unitsOf(placed.lines)) {
          confirmedUnits.set(sku, (confirmedUnits.get(sku) ?? 0) + units)
          if (!soldTo.has(`${sku}|${orderId}`)) {
            add("wrong", `order ${orderId} is confirmed, ${sku} was not sold to it`)
          }
        }
      } else {
        for (const sku of unitsOf(placed.lines).keys()) {
          if (soldTo.has(`${sku}|${orderId}`)) {
            add("wrong", `order ${orderId} is ${order.status}, ${sku} is still sold to it`)
          }
        }
      }
    }
    for (const [sku, stock] of facts.stock) {
      if (stock.sold !== (confirmedUnits.get(sku) ?? 0)) {
        add("wrong", `${sku}: ${stock.sold} sold, ${confirmedUnits.get(sku) ?? 0} to confirmed orders`)
      }
      // the state row the server reads is the fold of the events
      const row = yield* store.readState("Inventory", sku)
      const state = Option.map(row, (r): Payload => ({ ...(r.state as Payload), version: r.version }))
      const expected = {
        version: stock.version,
        available: stock.available,
        reserved: stock.reserved,
        sold: stock.sold
      }
      if (
        Option.isNone(state) ||
        (["version", "available", "reserved", "sold"] as const).some((k) => state.value[k] !== expected[k])
      ) {
        add(
          "wrong",
          `${sku}: stored state ${JSON.stringify(Option.getOrNull(state))}, events say ${JSON.stringify(expected)}`
        )
      }
    }

    // payments: requested once, settled once
    for (const [orderId, counts] of facts.payments) {
      if ((counts["PaymentRequested"] ?? 0) > 1) {
        add("duplicated", `payment ${orderId} requested ${counts["PaymentRequested"]} times`)
      }
      if ((counts["PaymentCharged"] ?? 0) + (counts["PaymentDeclined"] ?? 0) > 1) {
        add("duplicated", `payment ${orderId} settled twice: ${JSON.stringify(counts)}`)
      }
    }

    // saga commands: each issued once, settled once, executed in one commit
    for (const [orderId, process] of facts.processes) {
      for (const [step, issued] of process.issued) {
        if (issued.count > 1) add("duplicated", `process ${orderId}: step ${step} issued ${issued.count} times`)
      }
      for (const [step, count] of process.settled) {
        if (count > 1) add("duplicated", `process ${orderId}: step ${step} settled ${count} times`)
        if (!process.issued.has(step)) add("wrong", `process ${orderId}: step ${step} settled, never issued`)
      }
    }
    // no command of the fulfilment writes two events of one type: two mean it was executed twice
    for (const [key, writes] of facts.keyed) {
      const [, orderId, step] = key.split(":")
      const issued = facts.processes.get(orderId!)?.issued.get(Number(step))
      const types = writes.map((w) => w.eventType)
      if (new Set(types).size < types.length) add("duplicated", `${key} executed more than once: ${types.join(", ")}`)
      for (const write of writes) {
        if (
          issued === undefined || issued.aggregateType !== write.aggregateType ||
          issued.aggregateId !== write.aggregateId
        ) {
          add("wrong", `${key} wrote to ${write.aggregateType}/${write.aggregateId}, which its step does not name`)
          break
        }
      }
    }
    return problems
  })

export interface Ledger {
  /** Read what was committed since the last call; the problems of what has not finished. */
  readonly stuck: () => Promise<ReadonlyArray<Problem>>
  /** How many events the ledger has read so far (it reads the log's new events at each call). */
  readonly events: () => number
  /** Read the rest of the log and check everything against the journal. */
  readonly check: (journal: Journal) => Promise<Report>
  readonly close: () => Promise<void>
}

/** A ledger over a SQL client of the run's database. */
export const open = (client: Layer.Layer<SqlClient.SqlClient, unknown>): Ledger => {
  const runtime = ManagedRuntime.make(SqlEventStore.layerWithoutMigrations().pipe(Layer.provide(client)))
  const facts = new Facts()
  let cursor = EventStore.logStart
  const catchUp = Effect.gen(function*() {
    const store = yield* EventStore.EventStore
    while (true) {
      const events = yield* store.readAll(cursor, 2000)
      for (const event of events) facts.ingest(event)
      if (events.length > 0) cursor = EventStore.cursorOf(events[events.length - 1]!)
      if (events.length < 2000) return
    }
  })
  return {
    stuck: () => runtime.runPromise(Effect.zipRight(catchUp, stuck(facts))),
    events: () => facts.events,
    check: (journal) =>
      runtime.runPromise(Effect.gen(function*() {
        yield* catchUp
        const problems = [...facts.problems, ...(yield* audit(facts, journal)), ...(yield* stuck(facts))]
        const statuses = [...facts.orders.values()].map((o) => o.status)
        const reasons: Record<string, number> = {}
        for (const order of facts.orders.values()) if (order.reason !== undefined) bump(reasons, order.reason)
        const count = { lost: 0, duplicated: 0, stuck: 0, wrong: 0 }
        for (const problem of problems) count[problem.kind]++
        return {
          events: facts.events,
          orders: {
            confirmed: statuses.filter((s) => s === "confirmed").length,
            rejected: statuses.filter((s) => s === "rejected").length,
            cancelled: statuses.filter((s) => s === "cancelled").length,
            pending: statuses.filter((s) => s === "pending").length
          },
          reasons,
          problems,
          count
        }
      })),
    close: () => runtime.dispose()
  }
}

export const sqlite = (filename: string) => SqliteClient.layer({ filename, readonly: true })

export const postgres = (url: string) => PgClient.layer({ url: Redacted.make(url), maxConnections: 2 })
