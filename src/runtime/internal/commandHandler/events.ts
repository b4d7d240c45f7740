/**
 * The events a decision appends: numbered after the current version, with their ids, encoded
 * payloads and metadata (correlation, causation, trace context, idempotency key), and the
 * envelopes the caller gets back.
 */
import { Clock, Effect } from "effect"
import * as Aggregate from "../../../core/Aggregate.js"
import * as DomainEvent from "../../../core/DomainEvent.js"
import type * as IdGenerator from "../../../ports/IdGenerator.js"
import type { ExecuteOptions } from "../../CommandHandler.js"

/** The trace context events carry (W3C). */
export interface TraceContext {
  readonly traceparent?: string
  readonly tracestate?: string
}

const metadataOf = (
  options: ExecuteOptions,
  correlationId: string,
  idempotencyKey: string | undefined,
  trace: TraceContext
): DomainEvent.Metadata => {
  const metadata: { -readonly [K in keyof DomainEvent.Metadata]: DomainEvent.Metadata[K] } = { correlationId }
  if (options.metadata?.causationId !== undefined) metadata.causationId = options.metadata.causationId
  if (trace.traceparent !== undefined) metadata.traceparent = trace.traceparent
  if (trace.tracestate !== undefined) metadata.tracestate = trace.tracestate
  if (idempotencyKey !== undefined) metadata.idempotencyKey = idempotencyKey
  return metadata
}

/** A decision's events as rows to append after `version`; the first event's id correlates them unless given. */
export const unsaved = Effect.fnUntraced(function*(
  ids: IdGenerator.Service,
  aggregate: Aggregate.Any,
  id: string,
  version: number,
  events: ReadonlyArray<{ readonly _tag: string }>,
  options: ExecuteOptions,
  trace: TraceContext
) {
  const now = yield* Clock.currentTimeMillis
  const rows: Array<DomainEvent.Unsaved> = []
  let correlationId = options.metadata?.correlationId
  for (let i = 0; i < events.length; i++) {
    const event = events[i]!
    const eventId = yield* ids.next
    correlationId ??= eventId
    rows.push({
      eventId,
      aggregateType: aggregate.name,
      aggregateId: id,
      version: version + i + 1,
      eventType: event._tag,
      schemaVersion: Aggregate.schemaVersion(aggregate, event._tag),
      payload: yield* DomainEvent.encodePayload(aggregate, event),
      occurredAt: now,
      metadata: metadataOf(options, correlationId, options.idempotencyKey, trace)
    })
  }
  return rows
})

/** Whether the append writes the state row: always when state-stored; at each snapshot when event-sourced. */
export const writesState = (aggregate: Aggregate.Any, from: number, to: number) => {
  const persistence = aggregate.persistence
  return persistence._tag === "StateStored" || (persistence.snapshotEvery !== undefined &&
    Math.floor(to / persistence.snapshotEvery) > Math.floor(from / persistence.snapshotEvery))
}

/** A stored event as the caller's envelope (built field by field: no spread on the hot path). */
export const envelopeOf = (stored: DomainEvent.Stored, payload: unknown): DomainEvent.Envelope<unknown> => ({
  eventId: stored.eventId,
  position: stored.position,
  aggregateType: stored.aggregateType,
  aggregateId: stored.aggregateId,
  version: stored.version,
  eventType: stored.eventType,
  schemaVersion: stored.schemaVersion,
  payload,
  occurredAt: new Date(stored.occurredAt),
  metadata: stored.metadata
})
