/**
 * The OpenTelemetry SDK for Node, set up through `@effect/opentelemetry`: Effect's spans go to the
 * given span processors, and Effect's metrics (the library's and the application's) to a
 * Prometheus reader whose text exposition `PrometheusMetrics.scrape` returns, for a `/metrics`
 * endpoint, and to any other metric readers.
 *
 * @since 0.1.0
 * @module
 */
import { NodeSdk, type Resource, Tracer as OtelTracer } from "@effect/opentelemetry"
import { PrometheusExporter, PrometheusSerializer } from "@opentelemetry/exporter-prometheus"
import type { MetricReader } from "@opentelemetry/sdk-metrics"
import type { SpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Context, Effect, Layer, Tracer } from "effect"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly serviceName: string
  readonly serviceVersion?: string | undefined
  /** Where spans go (e.g. a `BatchSpanProcessor` over an OTLP exporter); none: no tracing. */
  readonly spanProcessor?: SpanProcessor | ReadonlyArray<SpanProcessor> | undefined
  /** Metric readers besides the Prometheus one (e.g. a periodic OTLP exporter). */
  readonly metricReaders?: ReadonlyArray<MetricReader> | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface PrometheusService {
  /** The current metrics in the Prometheus text exposition format (version 0.0.4). */
  readonly scrape: Effect.Effect<string>
}

/**
 * The Prometheus view of the metrics.
 *
 * @since 0.1.0
 * @category tags
 */
export class PrometheusMetrics
  extends Context.Tag("effect-ddd/PrometheusMetrics")<PrometheusMetrics, PrometheusService>()
{}

/**
 * The `Content-Type` of the exposition.
 *
 * @since 0.1.0
 * @category models
 */
export const contentType = "text/plain; version=0.0.4; charset=utf-8"

/**
 * The SDK: tracing to the span processors, metrics to Prometheus (and the other readers). The
 * providers flush and shut down when the layer's scope closes.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<PrometheusMetrics | Resource.Resource> =>
  Layer.unwrapEffect(Effect.sync(() => {
    const prometheus = new PrometheusExporter({ preventServerStart: true })
    const serializer = new PrometheusSerializer()
    const sdk = NodeSdk.layer(() => ({
      resource: {
        serviceName: options.serviceName,
        ...(options.serviceVersion === undefined ? {} : { serviceVersion: options.serviceVersion })
      },
      metricReader: [prometheus, ...(options.metricReaders ?? [])]
    }))
    const scrape = Effect.map(
      Effect.promise(() => prometheus.collect()),
      ({ resourceMetrics }) => serializer.serialize(resourceMetrics)
    )
    const [first, ...rest] = options.spanProcessor === undefined
      ? []
      : ([] as ReadonlyArray<SpanProcessor>).concat(options.spanProcessor)
    const tracing = first === undefined ? Layer.empty : leanTracer.pipe(
      Layer.provideMerge(OtelTracer.layerTracer),
      Layer.provide(NodeSdk.layerTracerProvider([first, ...rest]))
    )
    return Layer.merge(tracing, Layer.succeed(PrometheusMetrics, { scrape })).pipe(Layer.provideMerge(sdk))
  }))

/**
 * `@effect/opentelemetry`'s tracer, with a cheaper check around every step a fiber runs: without
 * a current span the step runs as it is (the original wraps the check in `Option`s, a few
 * microseconds per command); with one, the original makes it OpenTelemetry's active context.
 */
const leanTracer = Layer.unwrapEffect(Effect.map(OtelTracer.make, (otel) =>
  Layer.setTracer(Tracer.make({
    span: (...args) => otel.span(...args),
    context: (execution, fiber) =>
      fiber.currentSpan === undefined || otel.context === undefined ? execution() : otel.context(execution, fiber)
  }))))

/**
 * The current metrics as Prometheus text, with the `PrometheusMetrics` service in context.
 *
 * @since 0.1.0
 * @category combinators
 */
export const scrape: Effect.Effect<string, never, PrometheusMetrics> = Effect.flatMap(
  PrometheusMetrics,
  (p) => p.scrape
)
