/**
 * Idempotency keys: the fingerprint of a request, the record a command leaves in its transaction,
 * and the result replayed from it when the key comes again with the same request.
 */
import { Effect, Schema } from "effect"
import type * as Aggregate from "../../../core/Aggregate.js"
import * as DomainEvent from "../../../core/DomainEvent.js"
import type { IdempotencyRecord, Service as Store } from "../../../ports/EventStore.js"
import { IdempotencyKeyReused, type Result } from "../../CommandHandler.js"
import { fingerprint } from "../fingerprint.js"
import { decodeState } from "./state.js"

const StoredResult = Schema.Struct({
  aggregateId: Schema.String,
  version: Schema.Number,
  state: Schema.Unknown,
  events: Schema.Array(Schema.Unknown)
})

/** The fingerprint of a command's request: given by the caller, or made from its encoded input. */
export const fingerprintOf = (
  aggregate: Aggregate.Any,
  id: string,
  command: string,
  input: unknown,
  given: string | undefined
) =>
  given !== undefined ? Effect.succeed(given) : Effect.map(
    DomainEvent.encodeValue(aggregate, `input of ${command}`, aggregate.commands[command]!.input, input),
    (encoded) => fingerprint({ aggregateType: aggregate.name, aggregateId: id, command, input: encoded })
  )

/** The result a record holds, if it was made by the same request; `IdempotencyKeyReused` if not. */
export const replay = Effect.fnUntraced(function*(aggregate: Aggregate.Any, record: IdempotencyRecord, print: string) {
  if (record.fingerprint !== print || record.aggregateType !== aggregate.name) {
    return yield* new IdempotencyKeyReused({ key: record.key })
  }
  const stored = yield* Schema.decodeUnknown(StoredResult)(record.result).pipe(
    Effect.mapError((error) =>
      new DomainEvent.EventDecodeError({
        eventId: `idempotency:${record.key}`,
        aggregateType: record.aggregateType,
        aggregateId: record.aggregateId,
        eventType: "(result)",
        schemaVersion: 0,
        detail: error.message
      })
    )
  )
  const state = yield* decodeState(aggregate, stored.aggregateId, stored.version, stored.state)
  const events = yield* Effect.forEach(
    stored.events as ReadonlyArray<DomainEvent.Stored>,
    (event) => DomainEvent.decodeStored(aggregate, event)
  )
  return {
    aggregateId: stored.aggregateId,
    state,
    version: stored.version,
    events,
    replayed: true
  } as Result<Aggregate.Any>
})

/** Save the record of a command's result under its key, in the command's transaction. */
export const save = Effect.fnUntraced(function*(
  store: Store,
  aggregate: Aggregate.Any,
  request: { readonly key: string; readonly print: string; readonly id: string; readonly createdAt: number },
  result: { readonly version: number; readonly state: unknown; readonly events: ReadonlyArray<DomainEvent.Stored> }
) {
  yield* store.saveIdempotencyRecord({
    key: request.key,
    fingerprint: request.print,
    aggregateType: aggregate.name,
    aggregateId: request.id,
    result: {
      aggregateId: request.id,
      version: result.version,
      state: yield* DomainEvent.encodeValue(aggregate, "state", aggregate.state, result.state),
      events: result.events
    },
    createdAt: request.createdAt
  })
})
