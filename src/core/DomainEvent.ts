/**
 * Domain events as they travel and are stored: the envelope (ids, versions, time, metadata), the
 * stored record with an encoded payload, and the conversions between them (schema encoding on
 * write; upcasting and decoding on read).
 *
 * @since 0.1.0
 * @module
 */
import type { Effect } from "effect"
import { Either, ParseResult, Schema } from "effect"
import * as Aggregate from "./Aggregate.js"

/**
 * Metadata carried by every event.
 *
 * @since 0.1.0
 * @category models
 */
export const Metadata = Schema.Struct({
  correlationId: Schema.optionalWith(Schema.String, { exact: true }),
  causationId: Schema.optionalWith(Schema.String, { exact: true }),
  idempotencyKey: Schema.optionalWith(Schema.String, { exact: true }),
  traceparent: Schema.optionalWith(Schema.String, { exact: true }),
  tracestate: Schema.optionalWith(Schema.String, { exact: true })
})

/**
 * @since 0.1.0
 * @category models
 */
export type Metadata = typeof Metadata.Type

/**
 * A decoded event with its envelope.
 *
 * @since 0.1.0
 * @category models
 */
export interface Envelope<E> {
  /** UUIDv7, unique across the store. */
  readonly eventId: string
  /** Global position in the event log, assigned when the event is appended. */
  readonly position: number
  readonly aggregateType: string
  readonly aggregateId: string
  /** 1 for the aggregate's first event. */
  readonly version: number
  readonly eventType: string
  readonly schemaVersion: number
  readonly payload: E
  readonly occurredAt: Date
  readonly metadata: Metadata
}

/**
 * The envelope schema for a payload schema (its encoded form is JSON-safe).
 *
 * @since 0.1.0
 * @category models
 */
export const Envelope = <E, I>(payload: Schema.Schema<E, I>) =>
  Schema.Struct({
    eventId: Schema.String,
    position: Schema.Number,
    aggregateType: Schema.String,
    aggregateId: Schema.String,
    version: Schema.Number,
    eventType: Schema.String,
    schemaVersion: Schema.Number,
    payload,
    occurredAt: Schema.Date,
    metadata: Metadata
  })

/**
 * An event as the stores keep it: the payload is the schema-encoded (JSON-safe) value.
 *
 * @since 0.1.0
 * @category models
 */
export interface Stored extends Omit<Envelope<unknown>, "occurredAt"> {
  /** Epoch milliseconds. */
  readonly occurredAt: number
}

/**
 * An event about to be appended (the store assigns the position).
 *
 * @since 0.1.0
 * @category models
 */
export type Unsaved = Omit<Stored, "position">

/**
 * A stored payload that cannot be decoded with the current schema (after upcasting).
 *
 * @since 0.1.0
 * @category errors
 */
export class EventDecodeError extends Schema.TaggedError<EventDecodeError>()("EventDecodeError", {
  eventId: Schema.String,
  aggregateType: Schema.String,
  aggregateId: Schema.String,
  eventType: Schema.String,
  schemaVersion: Schema.Number,
  detail: Schema.String
}) {
  override get message() {
    return `event ${this.eventId} (${this.aggregateType}/${this.eventType} v${this.schemaVersion}) cannot be decoded: ${this.detail}`
  }
}

/**
 * A value that does not satisfy its own schema and so cannot be written: a bug in a command or an
 * evolve function, reported before anything is stored.
 *
 * @since 0.1.0
 * @category errors
 */
export class EncodeError extends Schema.TaggedError<EncodeError>()("EncodeError", {
  aggregateType: Schema.String,
  what: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `${this.aggregateType}: ${this.what} does not match its schema: ${this.detail}`
  }
}

const formatParseError = (error: ParseResult.ParseError): string =>
  ParseResult.ArrayFormatter.formatErrorSync(error)
    .map((issue) => (issue.path.length > 0 ? `${issue.path.join(".")}: ${issue.message}` : issue.message))
    .join("; ")

const encoders = new WeakMap<object, (u: unknown) => Either.Either<unknown, ParseResult.ParseError>>()
const decoders = new WeakMap<object, (u: unknown) => Either.Either<unknown, ParseResult.ParseError>>()

const cached = (
  cache: WeakMap<object, (u: unknown) => Either.Either<unknown, ParseResult.ParseError>>,
  schema: Schema.Schema<any, any>,
  make: (schema: Schema.Schema<any, any>) => (u: unknown) => Either.Either<unknown, ParseResult.ParseError>
) => {
  let f = cache.get(schema)
  if (f === undefined) {
    f = make(schema)
    cache.set(schema, f)
  }
  return f
}

/**
 * Encode a value with a schema, as an `EncodeError` on failure.
 *
 * @since 0.1.0
 * @category combinators
 */
export const encodeValue = (
  aggregate: Aggregate.Any,
  what: string,
  schema: Schema.Schema<any, any>,
  value: unknown
): Either.Either<unknown, EncodeError> =>
  Either.mapLeft(
    cached(encoders, schema, (s) => Schema.encodeEither(s))(value),
    (error) => new EncodeError({ aggregateType: aggregate.name, what, detail: formatParseError(error) })
  )

/**
 * Decode a value with a schema; the error is the formatted parse error.
 *
 * @since 0.1.0
 * @category combinators
 */
export const decodeValue = (schema: Schema.Schema<any, any>, value: unknown): Either.Either<any, string> =>
  Either.mapLeft(cached(decoders, schema, (s) => Schema.decodeUnknownEither(s))(value), formatParseError)

/**
 * Encode the payload of a new event.
 *
 * @since 0.1.0
 * @category combinators
 */
export const encodePayload = <A extends Aggregate.Any>(
  aggregate: A,
  event: Aggregate.Event<A>
): Either.Either<unknown, EncodeError> => encodeValue(aggregate, `event ${event._tag}`, aggregate.events, event)

/**
 * Upcast a stored payload to the current schema version and decode it, as an `Either` (no effect: the relay's hot path).
 *
 * @since 0.1.0
 * @category combinators
 */
export const decodeStoredEither = <A extends Aggregate.Any>(
  aggregate: A,
  stored: Stored
): Either.Either<Envelope<Aggregate.Event<A>>, EventDecodeError> => {
  const fail = (detail: string) =>
    new EventDecodeError({
      eventId: stored.eventId,
      aggregateType: stored.aggregateType,
      aggregateId: stored.aggregateId,
      eventType: stored.eventType,
      schemaVersion: stored.schemaVersion,
      detail
    })
  let payload = stored.payload
  const upcasters = aggregate.upcasters[stored.eventType]
  if (upcasters !== undefined) {
    const current = Aggregate.schemaVersion(aggregate, stored.eventType)
    for (let v = stored.schemaVersion; v < current; v++) {
      const upcast = upcasters[v]
      if (upcast === undefined) return Either.left(fail(`no upcaster from schema version ${v}`))
      try {
        payload = upcast(payload)
      } catch (cause) {
        return Either.left(fail(`upcaster from version ${v} failed: ${String(cause)}`))
      }
    }
  }
  const decoded = decodeValue(aggregate.events, payload)
  if (Either.isLeft(decoded)) return Either.left(fail(decoded.left))
  return Either.right({
    eventId: stored.eventId,
    position: stored.position,
    aggregateType: stored.aggregateType,
    aggregateId: stored.aggregateId,
    version: stored.version,
    eventType: stored.eventType,
    schemaVersion: Aggregate.schemaVersion(aggregate, stored.eventType),
    payload: decoded.right,
    occurredAt: new Date(stored.occurredAt),
    metadata: stored.metadata
  })
}

/**
 * Upcast a stored payload to the current schema version and decode it.
 *
 * @since 0.1.0
 * @category combinators
 */
export const decodeStored = <A extends Aggregate.Any>(
  aggregate: A,
  stored: Stored
): Effect.Effect<Envelope<Aggregate.Event<A>>, EventDecodeError> => decodeStoredEither(aggregate, stored)
