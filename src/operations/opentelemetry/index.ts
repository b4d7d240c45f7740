/**
 * OpenTelemetry export (import from `effect-ddd/opentelemetry`): the library's spans and metrics
 * through `@effect/opentelemetry`, with a Prometheus text exposition of the metrics.
 *
 * @since 0.1.0
 * @module
 */

export * as OpenTelemetry from "./OpenTelemetry.js"
