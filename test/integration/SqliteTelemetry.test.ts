/**
 * One trace across the relay's asynchronous hops, on a SQLite file: the trace context travels in
 * the events' metadata through the store.
 */
import { SqliteClient } from "@effect/sql-sqlite-node"
import { describe, expect, it } from "@effect/vitest"
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Effect, Layer } from "effect"
import { CommandHandler, Relay, Subscription, Telemetry } from "effect-ddd"
import { OpenTelemetry } from "effect-ddd/opentelemetry"
import { SqlEventStore } from "effect-ddd/sql"
import { randomUUID } from "node:crypto"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Inventory } from "../../examples/http-server/Domain/Inventory.js"
import { Order, OrderId, Sku } from "../../examples/http-server/Domain/Order.js"
import { eventually } from "../contracts/RelayContract.js"

const fresh = (prefix: string) => `${prefix}-${randomUUID()}`

// OrderPlaced -> reserve stock; StockReserved -> confirm the order (as in examples/subscriptions.ts)
const reserveStock = Subscription.make({
  name: "reserve-stock",
  events: [Subscription.on(Order, "OrderPlaced")],
  handle: (event) =>
    Effect.forEach(
      event.lines,
      (line) =>
        CommandHandler.execute(Inventory, line.sku, "reserve", { orderId: event.orderId, quantity: line.quantity }),
      {
        discard: true
      }
    )
})
const confirmOrder = Subscription.make({
  name: "confirm-order",
  events: [Subscription.on(Inventory, "StockReserved")],
  handle: (event) => Effect.asVoid(CommandHandler.execute(Order, event.orderId, "confirm", {}))
})

describe("Telemetry tracing", () => {
  const exporter = new InMemorySpanExporter()
  const file = join(mkdtempSync(join(tmpdir(), "effect-ddd-trace-")), "trace.db")
  const Live = Relay.layer({ subscriptions: [reserveStock, confirmOrder] }).pipe(
    Layer.provideMerge(CommandHandler.layer()),
    Layer.provideMerge(SqlEventStore.layer()),
    Layer.provide(SqliteClient.layer({ filename: file })),
    Layer.provideMerge(Telemetry.layer({ appendSpans: true })),
    Layer.provideMerge(
      OpenTelemetry.layer({ serviceName: "trace-test", spanProcessor: new SimpleSpanProcessor(exporter) })
    )
  )

  it.live("one trace from a command through two asynchronous hops: order -> inventory -> order", () =>
    Effect.gen(function*() {
      const sku = Sku.make(fresh("apple"))
      const orderId = OrderId.make(fresh("order"))
      yield* CommandHandler.execute(Inventory, sku, "restock", { quantity: 5 })
      const placed = yield* CommandHandler.execute(Order, orderId, "place", {
        customerId: "ada",
        lines: [{ sku, quantity: 2 }]
      })
        .pipe(Effect.withSpan("POST /orders"))
      yield* eventually(
        Effect.flatMap(
          CommandHandler.load(Order, orderId),
          (order) => order.state.status === "confirmed" ? Effect.void : Effect.fail("still pending")
        )
      )

      // spans are read inside the scope: the provider's shutdown empties the exporter
      const spans = exporter.getFinishedSpans()
      const root = spans.find((s) => s.name === "POST /orders")!
      const traceId = root.spanContext().traceId
      const trace = spans.filter((s) => s.spanContext().traceId === traceId)
      const byId = new Map(trace.map((s) => [s.spanContext().spanId, s]))
      // the nearest ancestor among the library's spans and the root (skipping e.g. sql.transaction)
      const named = new Set<string>([...Object.values(Telemetry.spans), "POST /orders"])
      const parentOf = (span: ReadableSpan) => {
        let parent = byId.get(span.parentSpanContext?.spanId ?? "")
        while (parent !== undefined && !named.has(parent.name)) {
          parent = byId.get(parent.parentSpanContext?.spanId ?? "")
        }
        return parent
      }
      const find = (name: string, attributes: Record<string, unknown>) => {
        const found = trace.filter((s) =>
          s.name === name && Object.entries(attributes).every(([k, v]) => s.attributes[k] === v)
        )
        expect(found, `${name} ${JSON.stringify(attributes)}`).toHaveLength(1)
        return found[0]!
      }

      const place = find(Telemetry.spans.execute, {
        "effect_ddd.aggregate_type": "Order",
        "effect_ddd.command": "place"
      })
      expect(parentOf(place)).toBe(root)
      // with append spans on
      expect(trace.filter((s) => s.name === Telemetry.spans.append && parentOf(s) === place)).toHaveLength(1)
      // the event carries the trace context of the command that appended it
      expect(placed.events[0]!.metadata.traceparent).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`))

      // hop 1: the relay delivers OrderPlaced to reserve-stock, which reserves the stock
      const deliverPlaced = find(Telemetry.spans.deliver, { "effect_ddd.subscription": "reserve-stock" })
      expect(parentOf(deliverPlaced)).toBe(place)
      const reserve = find(Telemetry.spans.execute, {
        "effect_ddd.aggregate_type": "Inventory",
        "effect_ddd.command": "reserve"
      })
      expect(parentOf(reserve)).toBe(deliverPlaced)

      // hop 2: StockReserved to confirm-order, which confirms the order
      const deliverReserved = find(Telemetry.spans.deliver, { "effect_ddd.subscription": "confirm-order" })
      expect(parentOf(deliverReserved)).toBe(reserve)
      const confirm = find(Telemetry.spans.execute, {
        "effect_ddd.aggregate_type": "Order",
        "effect_ddd.command": "confirm"
      })
      expect(parentOf(confirm)).toBe(deliverReserved)

      // the restock before was a trace of its own
      const restock = spans.find((s) =>
        s.name === Telemetry.spans.execute && s.attributes["effect_ddd.command"] === "restock"
      )!
      expect(restock.spanContext().traceId).not.toBe(traceId)
    }).pipe(Effect.provide(Live)))
})
