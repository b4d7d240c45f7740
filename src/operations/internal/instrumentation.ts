/**
 * The hooks through which the command handler and the relay report metrics and spans. Built once
 * per handler or relay from `Telemetry.Enabled`: when telemetry is off they return the effects
 * unchanged, so the hot paths pay nothing.
 */
import { Cause, Effect, FiberRef, MetricLabel, Option, type Tracer } from "effect"
import type * as DomainEvent from "../../core/DomainEvent.js"
import * as Telemetry from "../Telemetry.js"

type Labels = ReadonlyArray<MetricLabel.MetricLabel>

/**
 * Label arrays cached by their values (Effect caches a metric's hook per label array identity),
 * in a tree of maps keyed by each value in turn: no key string is built per update.
 */
interface LabelNode {
  labels?: Labels
  readonly next: Map<string, LabelNode>
}
const labelTree: LabelNode = { next: new Map() }
const labels = (...pairs: ReadonlyArray<string>): Labels => {
  let node = labelTree
  for (const part of pairs) {
    let child = node.next.get(part)
    if (child === undefined) {
      child = { next: new Map() }
      node.next.set(part, child)
    }
    node = child
  }
  if (node.labels === undefined) {
    const made: Array<MetricLabel.MetricLabel> = []
    for (let i = 0; i < pairs.length; i += 2) made.push(MetricLabel.make(pairs[i]!, pairs[i + 1]!))
    node.labels = made
  }
  return node.labels
}

const seconds = (start: number) => (performance.now() - start) / 1000

const REJECTED = new Set([
  "ConcurrencyConflict",
  "EventStoreError",
  "EventDecodeError",
  "EncodeError",
  "SubscriptionFailed"
])

/** The `outcome` tag of a failed command. */
const commandOutcome = (cause: Cause.Cause<unknown>): string => {
  const failure = Cause.failureOption(cause)
  if (Option.isNone(failure)) return "error"
  const tag = (failure.value as { readonly _tag?: unknown } | null)?._tag
  if (tag === "ConcurrencyConflict") return "conflict"
  return typeof tag === "string" && !REJECTED.has(tag) ? "rejected" : "error"
}

const isConflict = (error: unknown) => (error as { readonly _tag?: unknown } | null)?._tag === "ConcurrencyConflict"

export interface CommandHooks {
  /**
   * Around a whole execution (retries included): the span, the count by outcome, the duration.
   * The span is handed to `body` rather than made the current one, so the command's own steps
   * do not run inside it (an OpenTelemetry tracer pays for every step run inside a span); the
   * other hooks take it as their parent.
   */
  readonly execute: <A extends { readonly replayed: boolean }, E, R>(
    aggregateType: string,
    aggregateId: string,
    command: string,
    body: (span: Tracer.Span | undefined) => Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E, R>
  /** Around one attempt: counts conflicts, and retries from the second attempt on. */
  readonly attempt: <A, E, R>(aggregateType: string, self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  /** Around the append: the counts, and a span (a child of the execution's) when append spans are on. */
  readonly append: <A extends ReadonlyArray<unknown>, E, R>(
    aggregateType: string,
    events: number,
    span: Tracer.Span | undefined,
    self: Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E, R>
  /** Around a sync subscription's handler (a child of the execution's span). */
  readonly handle: <A, E, R>(
    subscription: string,
    envelope: DomainEvent.Envelope<unknown>,
    span: Tracer.Span | undefined,
    self: Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E, R>
  /** The trace context to store with new events: the execution's span's. */
  readonly traceContext: (
    explicit: { readonly traceparent?: string | undefined; readonly tracestate?: string | undefined } | undefined,
    span: Tracer.Span | undefined
  ) => Effect.Effect<{ readonly traceparent?: string; readonly tracestate?: string }>
}

const explicitOnly = (
  explicit: { readonly traceparent?: string | undefined; readonly tracestate?: string | undefined } | undefined
) => {
  if (explicit?.traceparent === undefined) return {}
  return explicit.tracestate === undefined
    ? { traceparent: explicit.traceparent }
    : { traceparent: explicit.traceparent, tracestate: explicit.tracestate }
}

export const commandHooks = (switches: Telemetry.Switches): CommandHooks => {
  const { metrics, tracing } = switches
  const appendSpans = tracing && switches.appendSpans
  const measured = <A extends { readonly replayed: boolean }, E, R>(
    aggregateType: string,
    command: string,
    self: Effect.Effect<A, E, R>
  ): Effect.Effect<A, E, R> =>
    Effect.suspend(() => {
      const start = performance.now()
      const record = (outcome: string) => {
        Telemetry.commands.unsafeUpdate(1, labels("aggregate", aggregateType, "command", command, "outcome", outcome))
        Telemetry.commandDuration.unsafeUpdate(seconds(start), labels("aggregate", aggregateType, "command", command))
      }
      return Effect.matchCauseEffect(self, {
        onSuccess: (result) => {
          record(result.replayed ? "replayed" : "success")
          return Effect.succeed(result)
        },
        onFailure: (cause) => {
          record(commandOutcome(cause))
          return Effect.failCause(cause)
        }
      })
    })
  return {
    execute: (aggregateType, aggregateId, command, body) => {
      if (!tracing) return metrics ? measured(aggregateType, command, body(undefined)) : body(undefined)
      return Effect.useSpan(Telemetry.spans.execute, {
        captureStackTrace: false,
        attributes: {
          "effect_ddd.aggregate_type": aggregateType,
          "effect_ddd.aggregate_id": aggregateId,
          "effect_ddd.command": command
        }
      }, (span) => metrics ? measured(aggregateType, command, body(span)) : body(span))
    },
    attempt: (aggregateType, self) => {
      if (!metrics) return self
      let attempts = 0
      const tags = labels("aggregate", aggregateType)
      const counted = Effect.tapError(self, (error) => {
        if (isConflict(error)) Telemetry.conflicts.unsafeUpdate(1, tags)
        return Effect.void
      })
      return Effect.suspend(() => {
        if (attempts++ > 0) Telemetry.conflictRetries.unsafeUpdate(1, tags)
        return counted
      })
    },
    append: (aggregateType, events, span, self) => {
      let effect = self
      if (metrics) {
        effect = Effect.tap(self, () => {
          const tags = labels("aggregate", aggregateType)
          Telemetry.appends.unsafeUpdate(1, tags)
          Telemetry.appendedEvents.unsafeUpdate(events, tags)
        })
      }
      if (appendSpans && span !== undefined) {
        const inner = effect
        effect = Effect.useSpan(Telemetry.spans.append, {
          captureStackTrace: false,
          parent: span,
          attributes: { "effect_ddd.events": events }
        }, () => inner)
      }
      return effect
    },
    handle: (subscription, envelope, span, self) =>
      span === undefined ? self : Effect.withSpan(self, Telemetry.spans.handle, {
        captureStackTrace: false,
        parent: span,
        attributes: {
          "effect_ddd.subscription": subscription,
          "effect_ddd.event_id": envelope.eventId,
          "effect_ddd.event_type": envelope.eventType
        }
      }),
    traceContext: tracing
      ? (explicit, span) => Telemetry.traceContextOf(explicit, Option.fromNullable(span))
      : (explicit) => Effect.succeed(explicitOnly(explicit))
  }
}

export interface RelayHooks {
  /** Around one delivery: its span (a child of the span that appended the event), count and duration. */
  readonly deliver: <E, R>(
    subscription: string,
    partition: number,
    envelope: DomainEvent.Envelope<unknown>,
    self: Effect.Effect<void, E, R>
  ) => Effect.Effect<void, E, R>
  /** A delivery attempt is re-run under the retry schedule. */
  readonly retry: (subscription: string) => Effect.Effect<void>
  /** An event was dead-lettered (counted when the enclosing `committed` transaction commits). */
  readonly deadLettered: (subscription: string, kind: string) => Effect.Effect<void>
  /** Around a transaction: counts made inside it only count if it succeeds. */
  readonly committed: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
}

/** Counts waiting for the transaction they were made in to commit. */
const pendingCounts = FiberRef.unsafeMake<Array<() => void> | undefined>(undefined)

export const relayHooks = (switches: Telemetry.Switches): RelayHooks => {
  const { metrics, tracing } = switches
  return {
    deliver: (subscription, partition, envelope, self) => {
      let effect = self
      if (metrics) {
        const inner = effect
        effect = Effect.suspend(() => {
          const start = performance.now()
          const record = (outcome: string) => {
            Telemetry.deliveries.unsafeUpdate(1, labels("subscription", subscription, "outcome", outcome))
            Telemetry.deliveryDuration.unsafeUpdate(seconds(start), labels("subscription", subscription))
          }
          return Effect.matchCauseEffect(inner, {
            onSuccess: () => {
              record("success")
              return Effect.void
            },
            onFailure: (cause) => {
              record("failure")
              return Effect.failCause(cause)
            }
          })
        })
      }
      if (tracing) {
        const parent = Telemetry.parentOf(envelope.metadata)
        effect = Effect.withSpan(effect, Telemetry.spans.deliver, {
          captureStackTrace: false,
          kind: "consumer",
          attributes: {
            "effect_ddd.subscription": subscription,
            "effect_ddd.partition": partition,
            "effect_ddd.event_id": envelope.eventId,
            "effect_ddd.event_type": envelope.eventType,
            "effect_ddd.aggregate_type": envelope.aggregateType,
            "effect_ddd.aggregate_id": envelope.aggregateId,
            "effect_ddd.position": envelope.position
          },
          ...(Option.isSome(parent) ? { parent: parent.value } : { root: true })
        })
        if (Option.isSome(parent) && envelope.metadata.tracestate !== undefined) {
          effect = Effect.locally(effect, Telemetry.currentTracestate, envelope.metadata.tracestate)
        }
      }
      return effect
    },
    retry: (subscription) =>
      metrics
        ? Effect.sync(() => Telemetry.deliveryRetries.unsafeUpdate(1, labels("subscription", subscription)))
        : Effect.void,
    deadLettered: (subscription, kind) =>
      metrics
        ? Effect.flatMap(FiberRef.get(pendingCounts), (pending) =>
          Effect.sync(() => {
            const count = () =>
              Telemetry.deadLettered.unsafeUpdate(1, labels("subscription", subscription, "kind", kind))
            if (pending === undefined) count()
            else pending.push(count)
          }))
        : Effect.void,
    committed: (self) =>
      metrics
        ? Effect.suspend(() => {
          const pending: Array<() => void> = []
          return Effect.tap(
            Effect.locally(self, pendingCounts, pending),
            () => Effect.sync(() => pending.forEach((count) => count()))
          )
        })
        : self
  }
}
