/**
 * Telemetry: spans through OpenTelemetry, metrics as Prometheus text (what a `/metrics` endpoint
 * serves) and the health of the subscriptions (what a `/health` endpoint serves). Run it with
 * `npx tsx examples/telemetry.ts`.
 */
import { SqliteClient } from "@effect/sql-sqlite-node"
import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Effect, Layer, Schedule } from "effect"
import { CommandHandler, Health, Relay, Subscription, Telemetry } from "effect-ddd"
import { OpenTelemetry } from "effect-ddd/opentelemetry"
import { SqlEventStore } from "effect-ddd/sql"
import { Inventory } from "./http-server/Domain/Inventory.js"
import { Order, OrderId, Sku } from "./http-server/Domain/Order.js"

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
const subscriptions = [reserveStock]

// In production: new BatchSpanProcessor(new OTLPTraceExporter()) from @opentelemetry/exporter-trace-otlp-http.
const spans = new InMemorySpanExporter()

const program = Effect.gen(function*() {
  const apple = Sku.make("apple")
  yield* CommandHandler.execute(Inventory, apple, "restock", { quantity: 5 })
  const orderId = OrderId.make("order-1")
  yield* CommandHandler.execute(Order, orderId, "place", { customerId: "ada", lines: [{ sku: apple, quantity: 2 }] })
    .pipe(
      Effect.withSpan("POST /orders")
    )
  // GET /health: 200 unless a subscription is unhealthy (then 503), with the reasons
  const report = yield* Health.check.pipe(
    Effect.filterOrFail((r) => r.subscriptions.every((s) => s.lag === 0), () => "still delivering"),
    Effect.retry(Schedule.spaced("10 millis"))
  )
  yield* Effect.log(`health: ${Health.httpStatus(report)} ${JSON.stringify(report.subscriptions)}`)

  // GET /metrics: the Prometheus text exposition
  const metrics = yield* OpenTelemetry.scrape
  for (const line of metrics.split("\n").filter((l) => l.startsWith("effect_ddd_commands_total"))) {
    yield* Effect.log(line)
  }

  // the order's trace: the command, then the relay's delivery and the reservation it caused
  const root = spans.getFinishedSpans().find((s) => s.name === "POST /orders")!
  const trace = spans.getFinishedSpans().filter((s) => s.spanContext().traceId === root.spanContext().traceId)
  yield* Effect.log(`trace ${root.spanContext().traceId}: ${trace.map((s) => s.name).join(", ")}`)
})

const MainLayer = Health.layer({ subscriptions, thresholds: { deadLetters: { unhealthy: 1 } } }).pipe(
  Layer.provideMerge(Relay.layer({ subscriptions })),
  Layer.provideMerge(CommandHandler.layer()),
  Layer.provideMerge(SqlEventStore.layer()),
  Layer.provide(SqliteClient.layer({ filename: ":memory:" })),
  Layer.provideMerge(OpenTelemetry.layer({ serviceName: "shop", spanProcessor: new SimpleSpanProcessor(spans) })),
  Layer.provide(Telemetry.logger)
)

Effect.runPromise(program.pipe(Effect.provide(MainLayer)))
