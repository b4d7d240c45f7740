/**
 * Appending events (and the state row) with an expected version. Inside a transaction: insert the
 * events, skipping versions already taken; if one was taken, undo our part and report the
 * conflict. On PostgreSQL outside a transaction: events and state row in one statement, atomic on
 * its own, which a version clash fails as a whole.
 */
import { Effect } from "effect"
import type * as DomainEvent from "../../../core/DomainEvent.js"
import { type AppendRequest, ConcurrencyConflict, type EventStoreError, streamHash } from "../../../ports/EventStore.js"
import * as Connections from "./connections.js"
import * as Dialect from "./dialect.js"
import * as EffectSql from "./effectSql.js"
import { type Query, toStoreError } from "./queries.js"
import type * as Rows from "./rows.js"
import type { Statements } from "./statements.js"

/** The bind parameters of the request's events, in the order of `Statements.insertEvents`. */
const eventParams = (request: AppendRequest): Array<unknown> => {
  const params: Array<unknown> = []
  const hash = streamHash(request.aggregateId)
  for (const event of request.events) {
    params.push(
      event.eventId,
      event.aggregateType,
      event.aggregateId,
      event.version,
      event.eventType,
      event.schemaVersion,
      JSON.stringify(event.payload),
      JSON.stringify(event.metadata),
      event.occurredAt,
      hash
    )
  }
  return params
}

/** An appended event, with its position (built field by field: no spread on the hot path). */
const storedAt = (event: DomainEvent.Unsaved, position: number): DomainEvent.Stored => ({
  eventId: event.eventId,
  position,
  aggregateType: event.aggregateType,
  aggregateId: event.aggregateId,
  version: event.version,
  eventType: event.eventType,
  schemaVersion: event.schemaVersion,
  payload: event.payload,
  occurredAt: event.occurredAt,
  metadata: event.metadata
})

/** The request's events with the positions they were inserted at. */
const withPositions = (
  request: AppendRequest,
  inserted: ReadonlyArray<Rows.InsertedRow>
): ReadonlyArray<DomainEvent.Stored> => {
  if (request.events.length === 1 && inserted.length === 1) {
    return [storedAt(request.events[0]!, Dialect.readNumber(inserted[0]!.position))]
  }
  const positions = new Map(inserted.map((row) => [Dialect.readNumber(row.version), Dialect.readNumber(row.position)]))
  return request.events.map((event) => storedAt(event, positions.get(event.version)!))
}

const conflict = (request: AppendRequest) =>
  new ConcurrencyConflict({
    aggregateType: request.aggregateType,
    aggregateId: request.aggregateId,
    expectedVersion: request.expectedVersion
  })

export type Append = (
  request: AppendRequest
) => Effect.Effect<ReadonlyArray<DomainEvent.Stored>, ConcurrencyConflict | EventStoreError>

/** Inside a transaction: the events, then the state row; a version clash undoes our part. */
export const inTransaction = (query: Query, statements: Statements): Append =>
  Effect.fnUntraced(function*(request: AppendRequest) {
    const inserted = request.events.length === 0
      ? []
      : yield* query<Rows.InsertedRow>(
        statements.insertEvents(request.events.length),
        eventParams(request),
        "append events"
      )
    if (inserted.length < request.events.length) {
      // another writer holds one of these versions: undo our part and report the conflict
      if (inserted.length > 0) {
        yield* query(
          statements.deleteEvents(inserted.length),
          inserted.map((row) => row.position),
          "undo partial append"
        )
      }
      return yield* conflict(request)
    }
    if (request.state !== undefined) {
      yield* query(
        statements.upsertState,
        [request.aggregateType, request.aggregateId, request.state.version, JSON.stringify(request.state.state)],
        "write state"
      )
    }
    return withPositions(request, inserted)
  })

/** PostgreSQL, outside a transaction: events and state row in one statement. */
export const atomically = (
  onConnection: Connections.OnConnection,
  prepare: (text: string) => string,
  statements: Statements
): Append =>
(request) => {
  const params = eventParams(request)
  if (request.state !== undefined) {
    params.push(request.aggregateType, request.aggregateId, request.state.version, JSON.stringify(request.state.state))
  }
  const text = statements.appendAtomically(request.events.length, request.state !== undefined)
  return Connections.execute<Rows.InsertedRow>(onConnection, prepare(text), params).pipe(
    Effect.catchAll((error): Effect.Effect<never, ConcurrencyConflict | EventStoreError> =>
      Effect.fail(
        Dialect.isUniqueViolation(error) && EffectSql.violatedConstraint(error) === "effect_ddd_events_stream"
          ? conflict(request)
          : toStoreError(error, `append events: ${EffectSql.messageOf(error)}`)
      )
    ),
    Effect.map((inserted) => withPositions(request, inserted))
  )
}
