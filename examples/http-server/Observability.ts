/**
 * The server's telemetry: metrics for `GET /metrics` (Prometheus text), the subscriptions' health
 * for `GET /health`, logs as JSON lines in production (pretty otherwise), and traces sent over
 * OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (e.g. `http://localhost:4318`). A request's
 * `traceparent` header makes its trace the client's.
 */
import { OtlpSerialization, OtlpTracer } from "@effect/opentelemetry"
import { FetchHttpClient } from "@effect/platform"
import { Config, Effect, Layer, Option } from "effect"
import { Health, Telemetry } from "effect-ddd"
import { OpenTelemetry } from "effect-ddd/opentelemetry"
import { delivered } from "./Fulfilment.js"

const serviceName = "shop"

/** Spans to an OTLP collector, in batches every second. */
const TracesLive = Layer.unwrapEffect(Effect.map(
  Config.option(Config.string("OTEL_EXPORTER_OTLP_ENDPOINT")),
  (endpoint) =>
    Option.match(endpoint, {
      onNone: () => Layer.empty,
      onSome: (url) =>
        OtlpTracer.layer({
          url: `${url.replace(/\/$/, "")}/v1/traces`,
          resource: { serviceName },
          exportInterval: "1 second"
        })
          .pipe(Layer.provide([FetchHttpClient.layer, OtlpSerialization.layerJson]))
    })
))

/** Metrics (with their Prometheus exposition), traces and logs: provided to the whole server. */
export const TelemetryLive = Layer.mergeAll(OpenTelemetry.layer({ serviceName }), TracesLive, Telemetry.logger)

/**
 * The fulfilment subscriptions' health: a dead letter makes the server unhealthy, as does a
 * backlog of 10,000 events or one undelivered for 5 minutes.
 */
export const HealthLive = Health.layer({
  subscriptions: delivered,
  thresholds: { deadLetters: { degraded: 1, unhealthy: 1 } }
})
