/**
 * Telemetry: the library's metrics (Effect `Metric`s, exported through whatever metrics backend
 * the application installs), its spans, the W3C trace context carried in event metadata across
 * asynchronous hops, and structured loggers.
 *
 * Metrics and spans are on by default; `Telemetry.layer({ metrics, tracing })` or
 * `Telemetry.disabled` switch them off for the command handlers and relays built under it, and
 * `Telemetry.layer({ appendSpans: true })` adds a span around each append.
 *
 * `examples/telemetry.ts`:
 * {@includeCode ../../examples/telemetry.ts}
 *
 * @since 0.1.0
 * @module
 */
import {
  Config,
  Context,
  Effect,
  FiberRef,
  FiberRefs,
  HashMap,
  Layer,
  Logger,
  Metric,
  MetricBoundaries,
  Option,
  Tracer
} from "effect"
import type * as DomainEvent from "../core/DomainEvent.js"

/**
 * Which kinds of telemetry the command handler and the relay produce.
 *
 * @since 0.1.0
 * @category models
 */
export interface Switches {
  readonly metrics: boolean
  readonly tracing: boolean
  /**
   * A span around each append, inside the command's span (default: off). The command's span
   * already covers it; with OpenTelemetry a second span per command costs about as much again.
   */
  readonly appendSpans: boolean
}

/**
 * The switches in force (default: both on). Read when a command handler or a relay is built.
 *
 * @since 0.1.0
 * @category tags
 */
export class Enabled extends Context.Reference<Enabled>()("effect-ddd/Telemetry/Enabled", {
  defaultValue: (): Switches => ({ metrics: true, tracing: true, appendSpans: false })
}) {}

/**
 * Choose the telemetry of the command handlers and relays built with this layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (switches: Partial<Switches>): Layer.Layer<Enabled> =>
  Layer.succeed(Enabled, {
    metrics: switches.metrics ?? true,
    tracing: switches.tracing ?? true,
    appendSpans: switches.appendSpans ?? false
  })

/**
 * No metrics and no spans from the command handler and the relay.
 *
 * @since 0.1.0
 * @category layers
 */
export const disabled: Layer.Layer<Enabled> = layer({ metrics: false, tracing: false })

const durations = MetricBoundaries.exponential({ start: 0.0005, factor: 2, count: 16 })

/**
 * Commands executed, tagged `aggregate`, `command` and `outcome`: `success`, `replayed` (an
 * idempotent repeat), `rejected` (a domain error, a failed expectation or a reused idempotency
 * key), `conflict` (still conflicting after the retries) or `error`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const commands = Metric.counter("effect_ddd_commands_total", {
  description: "Commands executed, by aggregate, command and outcome",
  incremental: true
})

/**
 * Duration of command executions in seconds (retries included), tagged `aggregate` and `command`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const commandDuration = Metric.histogram(
  "effect_ddd_command_duration_seconds",
  durations,
  "Duration of command executions in seconds, retries included"
)

/**
 * Optimistic-concurrency conflicts met by command attempts, tagged `aggregate`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const conflicts = Metric.counter("effect_ddd_conflicts_total", {
  description: "Concurrency conflicts met by command attempts",
  incremental: true
})

/**
 * Command attempts re-run after a conflict, tagged `aggregate`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const conflictRetries = Metric.counter("effect_ddd_conflict_retries_total", {
  description: "Command attempts re-run after a concurrency conflict",
  incremental: true
})

/**
 * Appends to the event store, tagged `aggregate`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const appends = Metric.counter("effect_ddd_appends_total", {
  description: "Appends to the event store",
  incremental: true
})

/**
 * Events appended, tagged `aggregate`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const appendedEvents = Metric.counter("effect_ddd_appended_events_total", {
  description: "Events appended to the event store",
  incremental: true
})

/**
 * Handler runs of the relay, tagged `subscription` and `outcome` (`success` or `failure`).
 *
 * @since 0.1.0
 * @category metrics
 */
export const deliveries = Metric.counter("effect_ddd_deliveries_total", {
  description: "Deliveries of events to subscription handlers, by outcome",
  incremental: true
})

/**
 * Duration of deliveries in seconds, tagged `subscription`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const deliveryDuration = Metric.histogram(
  "effect_ddd_delivery_duration_seconds",
  durations,
  "Duration of deliveries to subscription handlers in seconds"
)

/**
 * Delivery attempts re-run under a subscription's retry schedule, tagged `subscription`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const deliveryRetries = Metric.counter("effect_ddd_delivery_retries_total", {
  description: "Delivery attempts re-run under the retry schedule",
  incremental: true
})

/**
 * Events dead-lettered, tagged `subscription` and `kind` (`failed`, `poison`, `parked`).
 *
 * @since 0.1.0
 * @category metrics
 */
export const deadLettered = Metric.counter("effect_ddd_dead_lettered_total", {
  description: "Events dead-lettered, by kind",
  incremental: true
})

/**
 * Dead letters waiting, tagged `subscription` (refreshed by the health service).
 *
 * @since 0.1.0
 * @category metrics
 */
export const deadLetters = Metric.gauge("effect_ddd_dead_letters", {
  description: "Dead letters waiting for a redrive or a discard"
})

/**
 * Events not yet delivered to a subscription, tagged `subscription` (refreshed by the health service).
 *
 * @since 0.1.0
 * @category metrics
 */
export const lag = Metric.gauge("effect_ddd_subscription_lag", {
  description: "Events committed but not yet delivered to the subscription"
})

/**
 * Age in seconds of the oldest event not yet delivered to a subscription, 0 when there is none,
 * tagged `subscription` (refreshed by the health service).
 *
 * @since 0.1.0
 * @category metrics
 */
export const oldestUndeliveredAge = Metric.gauge("effect_ddd_subscription_oldest_undelivered_age_seconds", {
  description: "Age of the oldest event not yet delivered to the subscription"
})

/**
 * Partitions whose lease this process holds, tagged `subscription` and `owner` (refreshed by
 * the health service).
 *
 * @since 0.1.0
 * @category metrics
 */
export const leasesHeld = Metric.gauge("effect_ddd_leases_held", {
  description: "Partitions whose lease this process holds"
})

/**
 * Messages a durable broker consumer has not settled yet, tagged `consumer` (refreshed by the
 * integration consumers' layer and the health service).
 *
 * @since 0.2.0
 * @category metrics
 */
export const consumerLag = Metric.gauge("effect_ddd_consumer_lag", {
  description: "Broker messages not yet settled by the integration consumer"
})

/**
 * Rows removed by pruning, tagged `table` (`events`, `idempotency`, `inbox`, `processInstances`).
 *
 * @since 0.1.0
 * @category metrics
 */
export const prunedRows = Metric.counter("effect_ddd_pruned_rows_total", {
  description: "Rows removed by pruning, by table",
  incremental: true
})

/**
 * Age in seconds of the oldest event the log keeps, 0 when it is empty (refreshed by each pruning run).
 *
 * @since 0.1.0
 * @category metrics
 */
export const oldestEventAge = Metric.gauge("effect_ddd_oldest_event_age_seconds", {
  description: "Age of the oldest event kept in the log"
})

/**
 * Span names: `execute` around a command (retries included), `append` around its append,
 * `deliver` around the relay's run of an async subscription's handler for one event (a child of
 * the span that appended the event), `handle` around a sync subscription's handler, `consume`
 * around an integration consumer's handling of one broker message (a child of the producer's span
 * from the message's `traceparent`).
 *
 * @since 0.1.0
 * @category models
 */
export const spans = {
  execute: "CommandHandler.execute",
  append: "EventStore.append",
  deliver: "Relay.deliver",
  handle: "Subscription.handle",
  consume: "IntegrationConsumer.handle"
} as const

const traceparentPattern = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/

/**
 * The W3C `traceparent` of a span: `00-<trace id>-<span id>-<flags>`.
 *
 * @since 0.1.0
 * @category combinators
 */
export const traceparent = (span: Tracer.AnySpan): string =>
  `00-${span.traceId}-${span.spanId}-${span.sampled ? "01" : "00"}`

/**
 * The remote span a W3C `traceparent` designates, if it is well-formed.
 *
 * @since 0.1.0
 * @category combinators
 */
export const fromTraceparent = (value: string | undefined): Option.Option<Tracer.ExternalSpan> => {
  if (value === undefined) return Option.none()
  const match = traceparentPattern.exec(value.trim().toLowerCase())
  if (match === null || match[1] === "ff" || /^0+$/.test(match[2]!) || /^0+$/.test(match[3]!)) return Option.none()
  return Option.some(
    Tracer.externalSpan({ traceId: match[2]!, spanId: match[3]!, sampled: (parseInt(match[4]!, 16) & 1) === 1 })
  )
}

/**
 * The W3C `tracestate` travelling with the current trace (set while an event carrying one is
 * delivered, so the commands its handler executes pass it on).
 *
 * @since 0.1.0
 * @category models
 */
export const currentTracestate: FiberRef.FiberRef<string | undefined> = FiberRef.unsafeMake<string | undefined>(
  undefined
)

/**
 * The trace context to store with new events: the current span's `traceparent` and the
 * travelling `tracestate`. An explicit `traceparent` wins when it names another trace than the
 * current span's (or there is no current span); within the same trace, the current span is the
 * more precise parent.
 *
 * @since 0.1.0
 * @category combinators
 */
export const traceContext = (
  explicit?: { readonly traceparent?: string | undefined; readonly tracestate?: string | undefined }
): Effect.Effect<{ readonly traceparent?: string; readonly tracestate?: string }> =>
  Effect.flatMap(Effect.serviceOption(Tracer.ParentSpan), (span) => traceContextOf(explicit, span))

/**
 * `traceContext` with a given span in place of the current one.
 *
 * @since 0.1.0
 * @category combinators
 */
export const traceContextOf = (
  explicit: { readonly traceparent?: string | undefined; readonly tracestate?: string | undefined } | undefined,
  span: Option.Option<Tracer.AnySpan>
): Effect.Effect<{ readonly traceparent?: string; readonly tracestate?: string }> =>
  Effect.map(FiberRef.get(currentTracestate), (state) => {
    const given = explicit?.traceparent
    const useSpan = Option.isSome(span) &&
      (given === undefined || Option.exists(fromTraceparent(given), (g) => g.traceId === span.value.traceId))
    const parent = useSpan ? traceparent((span as Option.Some<Tracer.AnySpan>).value) : given
    const tracestate = given !== undefined ? explicit?.tracestate : explicit?.tracestate ?? state
    return {
      ...(parent === undefined ? {} : { traceparent: parent }),
      ...(tracestate === undefined || parent === undefined ? {} : { tracestate })
    }
  })

/**
 * The remote parent of a span about an event: the span that appended it, from its metadata.
 *
 * @since 0.1.0
 * @category combinators
 */
export const parentOf = (metadata: DomainEvent.Metadata): Option.Option<Tracer.ExternalSpan> =>
  fromTraceparent(metadata.traceparent)

/** Span attributes that become log annotations, and their names there. */
const annotated: ReadonlyMap<string, string> = new Map([
  ["effect_ddd.subscription", "subscription"],
  ["effect_ddd.partition", "partition"],
  ["effect_ddd.event_id", "eventId"],
  ["effect_ddd.event_type", "eventType"],
  ["effect_ddd.aggregate_type", "aggregateType"],
  ["effect_ddd.aggregate_id", "aggregateId"],
  ["effect_ddd.command", "command"]
])

/**
 * Add to each log record the current trace and span ids (`effect.traceId`, `effect.spanId`) and
 * what the library's enclosing spans know: `subscription`, `partition`, `eventId`, `eventType`,
 * `aggregateType`, `aggregateId`, `command` (the hot paths pay nothing for these annotations:
 * they are read from the spans only when a record is logged). Annotations set by the
 * application take precedence.
 *
 * @since 0.1.0
 * @category combinators
 */
export const withTraceAnnotations = <Message, Output>(
  self: Logger.Logger<Message, Output>
): Logger.Logger<Message, Output> =>
  Logger.mapInputOptions(Logger.withSpanAnnotations(self), (options) => {
    let span = Context.getOption(FiberRefs.getOrDefault(options.context, FiberRef.currentContext), Tracer.ParentSpan)
    let annotations = options.annotations
    while (Option.isSome(span) && span.value._tag === "Span") {
      for (const [key, value] of span.value.attributes) {
        const name = annotated.get(key)
        if (name !== undefined && !HashMap.has(annotations, name)) annotations = HashMap.set(annotations, name, value)
      }
      span = span.value.parent
    }
    return annotations === options.annotations ? options : { ...options, annotations }
  })

/**
 * JSON lines, with `withTraceAnnotations` (for production). Replaces the default logger, and the
 * pretty one that `NodeRuntime.runMain` installs.
 *
 * @since 0.1.0
 * @category layers
 */
export const loggerJson: Layer.Layer<never> = Layer.merge(
  Logger.replace(Logger.defaultLogger, Logger.withConsoleLog(withTraceAnnotations(Logger.jsonLogger))),
  Logger.remove(Logger.prettyLoggerDefault)
)

/**
 * Human-readable, coloured logs, with `withTraceAnnotations` (for development). Replaces the default
 * logger, and the pretty one that `NodeRuntime.runMain` installs.
 *
 * @since 0.1.0
 * @category layers
 */
export const loggerPretty: Layer.Layer<never> = Layer.merge(
  Logger.replace(Logger.defaultLogger, withTraceAnnotations(Logger.prettyLoggerDefault)),
  Logger.remove(Logger.prettyLoggerDefault)
)

/**
 * The logger chosen by the environment: `LOG_FORMAT` (`json` or `pretty`) when set, otherwise
 * JSON when `NODE_ENV` is `production` and pretty logs elsewhere.
 *
 * @since 0.1.0
 * @category layers
 */
export const logger: Layer.Layer<never> = Layer.unwrapEffect(
  Effect.map(
    Effect.orElseSucceed(
      Effect.all([
        Config.option(Config.literal("json", "pretty")("LOG_FORMAT")),
        Config.withDefault(Config.string("NODE_ENV"), "development")
      ]),
      () => [Option.none<"json" | "pretty">(), "development"] as const
    ),
    ([format, env]) =>
      Option.getOrElse(format, () => (env === "production" ? "json" : "pretty")) === "json" ? loggerJson : loggerPretty
  )
)
