import { describe, expect, it } from "@effect/vitest"
import { context, trace } from "@opentelemetry/api"
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks"
import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Context, Effect, HashMap, Layer, Logger, Metric, MetricLabel, Option, Schedule } from "effect"
import { CommandHandler, EventStore, MemoryEventStore, Relay, Subscription, Telemetry } from "effect-ddd"
import { OpenTelemetry } from "effect-ddd/opentelemetry"
import { randomUUID } from "node:crypto"
import { Inventory } from "../../examples/http-server/Domain/Inventory.js"
import { OrderId, Sku } from "../../examples/http-server/Domain/Order.js"
import { eventually } from "../contracts/RelayContract.js"

const fresh = (prefix: string) => `${prefix}-${randomUUID()}`

const labels = (tags: Record<string, string>) => Object.entries(tags).map(([k, v]) => MetricLabel.make(k, v))

/** The count of a tagged counter. */
const counter = (metric: Metric.Metric.Counter<number>, tags: Record<string, string>) =>
  Effect.map(Metric.value(Metric.taggedWithLabels(metric, labels(tags))), (state) => state.count)

/** The number of observations of a tagged histogram. */
const observations = (metric: Metric.Metric.Histogram<number>, tags: Record<string, string>) =>
  Effect.map(Metric.value(Metric.taggedWithLabels(metric, labels(tags))), (state) => state.count)

/** How much each probe moved while `scenario` ran (metrics are global: deltas only). */
const deltas = <A, E, R>(
  probes: Record<string, Effect.Effect<number>>,
  scenario: Effect.Effect<A, E, R>
): Effect.Effect<Record<string, number>, E, R> =>
  Effect.gen(function*() {
    const before = yield* Effect.all(probes)
    yield* scenario
    const after = yield* Effect.all(probes)
    return Object.fromEntries(Object.keys(probes).map((k) => [k, after[k]! - before[k]!]))
  })

/** A memory store whose first `n` appends fail with a conflict. */
const conflictingStore = (n: number) =>
  Layer.effectContext(Effect.map(MemoryEventStore.makeStores, (stores) => {
    const eventStore = Context.get(stores, EventStore.EventStore)
    let left = n
    const service: EventStore.Service = {
      ...eventStore,
      append: (request) =>
        left-- > 0
          ? Effect.fail(
            new EventStore.ConcurrencyConflict({
              aggregateType: request.aggregateType,
              aggregateId: request.aggregateId,
              expectedVersion: request.expectedVersion
            })
          )
          : eventStore.append(request)
    }
    return Context.add(stores, EventStore.EventStore, service)
  }))

const withRelay = <S extends Subscription.Any, A, E, R>(subscriptions: ReadonlyArray<S>, use: Effect.Effect<A, E, R>) =>
  Effect.scoped(Effect.flatMap(
    Layer.build(Relay.layer({ subscriptions, pollInterval: "50 millis" })),
    (context) => Effect.provide(use, context)
  ))

describe("Telemetry metrics", () => {
  it.effect("commands: counts by outcome, durations, appends", () =>
    Effect.gen(function*() {
      const sku = Sku.make(fresh("sku"))
      const restock = (outcome: string) =>
        counter(Telemetry.commands, { aggregate: "Inventory", command: "restock", outcome })
      const key = fresh("key")
      const result = yield* deltas(
        {
          success: restock("success"),
          replayed: restock("replayed"),
          rejected: counter(Telemetry.commands, { aggregate: "Inventory", command: "reserve", outcome: "rejected" }),
          durations: observations(Telemetry.commandDuration, { aggregate: "Inventory", command: "restock" }),
          appends: counter(Telemetry.appends, { aggregate: "Inventory" }),
          events: counter(Telemetry.appendedEvents, { aggregate: "Inventory" })
        },
        Effect.gen(function*() {
          yield* CommandHandler.execute(Inventory, sku, "restock", { quantity: 2 })
          yield* CommandHandler.execute(Inventory, sku, "restock", { quantity: 1 }, { idempotencyKey: key })
          yield* CommandHandler.execute(Inventory, sku, "restock", { quantity: 1 }, { idempotencyKey: key })
          yield* Effect.flip(
            CommandHandler.execute(Inventory, sku, "reserve", { orderId: OrderId.make("o-1"), quantity: 100 })
          )
        })
      )
      expect(result).toEqual({ success: 2, replayed: 1, rejected: 1, durations: 3, appends: 2, events: 2 })
    }).pipe(Effect.provide(CommandHandler.layer().pipe(Layer.provide(MemoryEventStore.layer)))))

  it.effect("conflicts and their retries; a command still conflicting after its retries", () =>
    Effect.gen(function*() {
      const probes = {
        conflicts: counter(Telemetry.conflicts, { aggregate: "Inventory" }),
        retries: counter(Telemetry.conflictRetries, { aggregate: "Inventory" }),
        success: counter(Telemetry.commands, { aggregate: "Inventory", command: "restock", outcome: "success" }),
        conflict: counter(Telemetry.commands, { aggregate: "Inventory", command: "restock", outcome: "conflict" })
      }
      const restock = CommandHandler.execute(Inventory, Sku.make(fresh("sku")), "restock", { quantity: 1 })
      const retried = yield* deltas(
        probes,
        restock.pipe(
          Effect.provide(CommandHandler.layer({ retry: Schedule.recurs(5) }).pipe(Layer.provide(conflictingStore(2))))
        )
      )
      expect(retried).toEqual({ conflicts: 2, retries: 2, success: 1, conflict: 0 })
      const exhausted = yield* deltas(
        probes,
        Effect.flip(restock).pipe(
          Effect.provide(CommandHandler.layer({ retry: Schedule.recurs(1) }).pipe(Layer.provide(conflictingStore(100))))
        )
      )
      // every attempt conflicted; all but the first were retries
      expect(exhausted).toMatchObject({ success: 0, conflict: 1 })
      expect(exhausted["retries"]).toBeGreaterThanOrEqual(1)
      expect(exhausted["conflicts"]).toBe(exhausted["retries"]! + 1)
    }))

  it.live("deliveries: outcomes, durations, retries, dead letters", () =>
    Effect.gen(function*() {
      const flaky = Sku.make(fresh("flaky"))
      const broken = Sku.make(fresh("broken"))
      const name = fresh("metered")
      let flakyCalls = 0
      const subscription = Subscription.make({
        name,
        events: [Subscription.on(Inventory, "StockRestocked")],
        retry: Schedule.spaced("10 millis").pipe(Schedule.intersect(Schedule.recurs(3))),
        partitions: 1,
        handle: (_event, envelope) => {
          if (envelope.aggregateId === broken) return Effect.fail("always broken")
          if (envelope.aggregateId === flaky && flakyCalls++ < 2) return Effect.fail("transient")
          return Effect.void
        }
      })
      const result = yield* deltas(
        {
          success: counter(Telemetry.deliveries, { subscription: name, outcome: "success" }),
          failure: counter(Telemetry.deliveries, { subscription: name, outcome: "failure" }),
          durations: observations(Telemetry.deliveryDuration, { subscription: name }),
          retries: counter(Telemetry.deliveryRetries, { subscription: name }),
          failed: counter(Telemetry.deadLettered, { subscription: name, kind: "failed" }),
          parked: counter(Telemetry.deadLettered, { subscription: name, kind: "parked" })
        },
        Effect.gen(function*() {
          yield* CommandHandler.execute(Inventory, broken, "restock", { quantity: 1 })
          yield* CommandHandler.execute(Inventory, broken, "restock", { quantity: 2 })
          yield* CommandHandler.execute(Inventory, flaky, "restock", { quantity: 1 })
          yield* withRelay(
            [subscription],
            eventually(Effect.gen(function*() {
              const relay = yield* Relay.Relay
              const letters = yield* relay.deadLetters({ subscription: name })
              if (letters.length !== 2 || flakyCalls < 3) return yield* Effect.fail("not yet")
            }))
          )
        })
      )
      // broken: 1 batch attempt + 3 retries, all failing, then its second event parked;
      // flaky: 2 failures then a success
      expect(result).toEqual({ success: 1, failure: 6, durations: 7, retries: 5, failed: 1, parked: 1 })
    }).pipe(Effect.provide(CommandHandler.layer().pipe(Layer.provideMerge(MemoryEventStore.layer)))))

  it.effect("Telemetry.disabled: nothing is counted", () =>
    Effect.gen(function*() {
      const result = yield* deltas({
        commands: counter(Telemetry.commands, { aggregate: "Inventory", command: "restock", outcome: "success" })
      }, CommandHandler.execute(Inventory, Sku.make(fresh("sku")), "restock", { quantity: 1 }))
      expect(result).toEqual({ commands: 0 })
    }).pipe(
      Effect.provide(
        CommandHandler.layer().pipe(Layer.provide(MemoryEventStore.layer), Layer.provide(Telemetry.disabled))
      )
    ))
})

describe("Telemetry trace context", () => {
  const remote = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

  it("parses W3C traceparents and refuses malformed ones", () => {
    const span = Option.getOrThrow(Telemetry.fromTraceparent(remote))
    expect([span.traceId, span.spanId, span.sampled]).toEqual([
      "0af7651916cd43dd8448eb211c80319c",
      "b7ad6b7169203331",
      true
    ])
    expect(Telemetry.traceparent(span)).toBe(remote)
    for (
      const bad of [
        undefined,
        "",
        "00-xyz",
        "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "00-00000000000000000000000000000000-b7ad6b7169203331-01",
        "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01"
      ]
    ) {
      expect(Option.isNone(Telemetry.fromTraceparent(bad)), String(bad)).toBe(true)
    }
  })

  it.effect("the current span, unless an explicit traceparent names another trace", () =>
    Effect.gen(function*() {
      expect(yield* Telemetry.traceContext()).toEqual({})
      expect(yield* Telemetry.traceContext({ traceparent: remote, tracestate: "k=v" })).toEqual({
        traceparent: remote,
        tracestate: "k=v"
      })
      const inSpan = yield* Effect.withSpan(
        Effect.all([Telemetry.traceContext(), Telemetry.traceContext({ traceparent: remote }), Effect.currentSpan]),
        "local"
      )
      expect(inSpan[0].traceparent).toBe(Telemetry.traceparent(inSpan[2]))
      expect(inSpan[1]).toEqual({ traceparent: remote })
      // a child of the remote span: same trace, the current span is the more precise parent
      const [child, current] = yield* Effect.withSpan(
        Effect.all([Telemetry.traceContext({ traceparent: remote, tracestate: "k=v" }), Effect.currentSpan]),
        "child",
        { parent: Option.getOrThrow(Telemetry.fromTraceparent(remote)) }
      )
      expect(child).toEqual({ traceparent: Telemetry.traceparent(current), tracestate: "k=v" })
      // a travelling tracestate is carried on
      const carried = yield* Effect.locally(Telemetry.traceContext(), Telemetry.currentTracestate, "a=b").pipe(
        Effect.withSpan("s")
      )
      expect(carried.tracestate).toBe("a=b")
    }))
})

describe("Telemetry tracing of sync subscriptions", () => {
  const exporter = new InMemorySpanExporter()
  const audit = Subscription.make({
    name: "audit",
    mode: "sync",
    events: [Subscription.on(Inventory, "StockRestocked")],
    handle: () => Effect.void
  })
  it.effect("a sync subscription's handler runs in a span inside the command's", () =>
    Effect.gen(function*() {
      yield* CommandHandler.execute(Inventory, Sku.make(fresh("sku")), "restock", { quantity: 1 })
      const spans = exporter.getFinishedSpans()
      const handle = spans.find((s) => s.name === Telemetry.spans.handle)!
      expect(handle.attributes["effect_ddd.subscription"]).toBe("audit")
      const execute = spans.find((s) => s.name === Telemetry.spans.execute)!
      expect(handle.spanContext().traceId).toBe(execute.spanContext().traceId)
      expect(handle.parentSpanContext?.spanId).toBe(execute.spanContext().spanId)
      // append spans are off by default: the command's span covers its append
      expect(spans.filter((s) => s.name === Telemetry.spans.append)).toEqual([])
    }).pipe(Effect.provide(
      CommandHandler.layer({ subscriptions: [audit] }).pipe(
        Layer.provide(MemoryEventStore.layer),
        Layer.provideMerge(
          OpenTelemetry.layer({ serviceName: "sync-test", spanProcessor: new SimpleSpanProcessor(exporter) })
        )
      )
    )))
})

describe("Telemetry logs", () => {
  it.live("a handler's logs carry the subscription, the event, the aggregate and the trace id", () => {
    const records: Array<Record<string, unknown>> = []
    const capture = Logger.replace(
      Logger.defaultLogger,
      Telemetry.withTraceAnnotations(Logger.make(({ annotations, message }) => {
        records.push({
          message: (message as ReadonlyArray<unknown>)[0],
          ...Object.fromEntries(HashMap.toEntries(annotations))
        })
      }))
    )
    return Effect.gen(function*() {
      const sku = Sku.make(fresh("logged"))
      const name = fresh("logging")
      const subscription = Subscription.make({
        name,
        events: [Subscription.on(Inventory, "StockRestocked")],
        partitions: 1,
        handle: (_event, envelope) => envelope.aggregateId === sku ? Effect.log("handled") : Effect.void
      })
      const restocked = yield* CommandHandler.execute(Inventory, sku, "restock", { quantity: 1 })
      yield* withRelay(
        [subscription],
        eventually(
          Effect.suspend(() => records.some((r) => r["message"] === "handled") ? Effect.void : Effect.fail("not yet"))
        )
      )
      const handled = records.find((r) => r["message"] === "handled")!
      expect(handled).toMatchObject({
        subscription: name,
        partition: 0,
        eventId: restocked.events[0]!.eventId,
        aggregateType: "Inventory",
        aggregateId: sku,
        "effect.spanName": Telemetry.spans.deliver
      })
      // the trace of the command that appended the event
      expect(restocked.events[0]!.metadata.traceparent).toContain(`-${handled["effect.traceId"]}-`)
    }).pipe(
      Effect.provide(CommandHandler.layer().pipe(Layer.provideMerge(MemoryEventStore.layer))),
      Effect.provide(capture)
    )
  })

  it.effect("OpenTelemetry.layer with a context manager: inside an Effect span, OpenTelemetry's active span is that span", () => {
    const exporter = new InMemorySpanExporter()
    // what instrumentation libraries read; the application registers the context manager
    const contextManager = Effect.acquireRelease(
      Effect.sync(() => context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())),
      () => Effect.sync(() => context.disable())
    )
    return Effect.gen(function*() {
      yield* contextManager
      const outside = trace.getActiveSpan()
      const inside = yield* Effect.withSpan(
        Effect.sync(() => trace.getActiveSpan()?.spanContext().spanId),
        "outer"
      )
      const [outer] = exporter.getFinishedSpans()
      expect(outside).toBeUndefined()
      expect(inside).toBe(outer!.spanContext().spanId)
      expect(yield* Effect.sync(() => trace.getActiveSpan())).toBeUndefined()
    }).pipe(
      Effect.scoped,
      Effect.provide(
        OpenTelemetry.layer({ serviceName: "context-test", spanProcessor: new SimpleSpanProcessor(exporter) })
      )
    )
  })

  it.effect("loggerJson writes one JSON object per line, with the trace id", () =>
    Effect.gen(function*() {
      const lines: Array<unknown> = []
      const current = yield* Effect.console
      yield* Effect.log("hello").pipe(
        Effect.annotateLogs({ aggregateId: "a-1" }),
        Effect.withSpan("work"),
        Effect.provide(Telemetry.loggerJson),
        Effect.withConsole({ ...current, unsafe: { ...current.unsafe, log: (line: unknown) => lines.push(line) } })
      )
      expect(lines).toHaveLength(1)
      const record = JSON.parse(String(lines[0]))
      expect(record.message).toBe("hello")
      expect(record.annotations.aggregateId).toBe("a-1")
      expect(record.annotations["effect.traceId"]).toMatch(/^[0-9a-f]{32}$/)
    }))
})
