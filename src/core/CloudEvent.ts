/**
 * The envelope integration events travel in: a CloudEvents 1.0 event, so that a service written
 * without effect-ddd (or in another language, with any CloudEvents SDK) can read it.
 *
 * On a broker the event is sent in the binary content mode of the CloudEvents NATS and Kafka
 * bindings: each context attribute is a `ce-<name>` header (`ce-id`, `ce-type`, ...), the data
 * content type is the `content-type` header, and the payload is the data itself (UTF-8 JSON for
 * `application/json`). The W3C trace context travels twice: as the `ce-traceparent` /
 * `ce-tracestate` extension attributes and as the plain `traceparent` / `tracestate` headers that
 * tracing libraries look for. Sample files use the structured JSON format (one JSON object with the
 * attributes and `data`).
 *
 * Extension attributes beyond the known ones (`correlationid`, `causationid`, `traceparent`,
 * `tracestate`, `partitionkey`) are kept in `extensions`, so nothing is lost on the way through.
 *
 * @since 0.2.0
 * @module
 */
import { Either, ParseResult, Schema } from "effect"
import * as internal from "./internal/cloudEvent.js"

/**
 * The CloudEvents specification version this module reads and writes.
 *
 * @since 0.2.0
 * @category models
 */
export const specversion = "1.0" as const

/**
 * An extension attribute name: lower-case letters and digits, at most 20 characters (CloudEvents
 * 1.0 naming rules).
 *
 * @since 0.2.0
 * @category models
 */
export const ExtensionName = Schema.String.pipe(
  Schema.pattern(/^[a-z0-9]{1,20}$/),
  Schema.annotations({ identifier: "ExtensionName" })
)

/**
 * An RFC 3339 timestamp, such as `2024-05-01T10:00:00.000Z`.
 *
 * @since 0.2.0
 * @category models
 */
export const Timestamp = Schema.String.pipe(
  Schema.pattern(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i),
  Schema.annotations({ identifier: "Timestamp" })
)

const optional = <S extends Schema.Schema.Any>(schema: S) => Schema.optionalWith(schema, { exact: true })

/**
 * A CloudEvent: the required attributes (`id`, `source`, `type`, `specversion`), the optional ones
 * (`subject`, `time`, `datacontenttype`, `dataschema`), the extensions effect-ddd uses, other
 * extensions, and the data (a JSON value for JSON content types, bytes otherwise).
 *
 * @since 0.2.0
 * @category models
 */
export const CloudEvent = Schema.Struct({
  specversion: Schema.Literal(specversion),
  id: Schema.NonEmptyString,
  source: Schema.NonEmptyString,
  type: Schema.NonEmptyString,
  subject: optional(Schema.String),
  time: optional(Timestamp),
  datacontenttype: optional(Schema.NonEmptyString),
  dataschema: optional(Schema.NonEmptyString),
  /** The id shared by everything one request caused (effect-ddd's `correlationId`). */
  correlationid: optional(Schema.String),
  /** The id of what caused this event (the domain event id). */
  causationid: optional(Schema.String),
  /** W3C trace context of the producing span. */
  traceparent: optional(Schema.String),
  tracestate: optional(Schema.String),
  /** Events with the same partition key are delivered in order (CloudEvents partitioning extension). */
  partitionkey: optional(Schema.String),
  /** Any other extension attributes. */
  extensions: optional(
    Schema.Record({ key: Schema.String, value: Schema.String }).pipe(
      Schema.filter((extensions) => {
        const bad = Object.keys(extensions).filter((name) => !/^[a-z0-9]{1,20}$/.test(name))
        return bad.length === 0 ||
          `extension attribute names must be 1 to 20 lower-case letters or digits: ${bad.join(", ")}`
      })
    )
  ),
  data: optional(Schema.Unknown)
})

/**
 * @since 0.2.0
 * @category models
 */
export type CloudEvent = typeof CloudEvent.Type

/**
 * A message in binary content mode: the attributes as headers, the data as the payload.
 *
 * @since 0.2.0
 * @category models
 */
export interface Binary {
  readonly headers: Readonly<Record<string, string>>
  readonly payload: Uint8Array
}

/**
 * The binary content mode as a Schema: decoding reads `ce-*` headers (case-insensitively) and
 * parses a JSON payload; encoding writes them.
 *
 * @since 0.2.0
 * @category models
 */
export const FromBinary: Schema.Schema<CloudEvent, Binary> = Schema.transformOrFail(
  Schema.Struct({
    headers: Schema.Record({ key: Schema.String, value: Schema.String }),
    payload: Schema.Uint8ArrayFromSelf
  }),
  Schema.typeSchema(CloudEvent),
  {
    strict: true,
    decode: (binary, _, ast) =>
      Either.mapLeft(
        internal.fromBinary(binary),
        (detail) => new ParseResult.Type(ast, binary, detail)
      ) as Either.Either<
        any,
        ParseResult.ParseIssue
      >,
    encode: (event) => ParseResult.succeed(internal.toBinary(event))
  }
)

/**
 * The structured JSON format: one JSON object with the attributes, the extensions at the top
 * level, and `data` (or `data_base64` for bytes).
 *
 * @since 0.2.0
 * @category models
 */
export const FromJson: Schema.Schema<CloudEvent, string> = Schema.transformOrFail(
  Schema.parseJson(Schema.Record({ key: Schema.String, value: Schema.Unknown })),
  Schema.typeSchema(CloudEvent),
  {
    strict: true,
    decode: (json, _, ast) =>
      Either.mapLeft(
        internal.fromStructured(json),
        (detail) => new ParseResult.Type(ast, json, detail)
      ) as Either.Either<
        any,
        ParseResult.ParseIssue
      >,
    encode: (event) => ParseResult.succeed(internal.toStructured(event))
  }
)

/**
 * A message that is not a valid CloudEvent (missing or malformed attributes, unreadable data).
 *
 * @since 0.2.0
 * @category errors
 */
export class CloudEventError extends Schema.TaggedError<CloudEventError>()("CloudEventError", {
  detail: Schema.String
}) {
  override get message() {
    return `not a valid CloudEvent: ${this.detail}`
  }
}

const formatError = (error: ParseResult.ParseError) => new CloudEventError({ detail: internal.formatParseError(error) })
const validate = Schema.validateEither(CloudEvent)
const encodeBinary = (event: CloudEvent) => Either.flatMap(validate(event), Schema.encodeEither(FromBinary))
const decodeBinary = Schema.decodeUnknownEither(FromBinary)
const encodeJson = (event: CloudEvent) => Either.flatMap(validate(event), Schema.encodeEither(FromJson))
const decodeJson = Schema.decodeUnknownEither(FromJson)

/**
 * Validate a CloudEvent and write it in binary content mode.
 *
 * @since 0.2.0
 * @category combinators
 */
export const toBinary = (event: CloudEvent): Either.Either<Binary, CloudEventError> =>
  Either.mapLeft(encodeBinary(event), formatError)

/**
 * Read a message in binary content mode.
 *
 * @since 0.2.0
 * @category combinators
 */
export const fromBinary = (message: Binary): Either.Either<CloudEvent, CloudEventError> =>
  Either.mapLeft(decodeBinary(message), formatError)

/**
 * Write a CloudEvent in the structured JSON format (pretty-printed when `space` is given).
 *
 * @since 0.2.0
 * @category combinators
 */
export const toJson = (event: CloudEvent, space?: number): Either.Either<string, CloudEventError> =>
  Either.mapLeft(
    Either.map(encodeJson(event), (json) => space === undefined ? json : JSON.stringify(JSON.parse(json), null, space)),
    formatError
  )

/**
 * Read a CloudEvent in the structured JSON format.
 *
 * @since 0.2.0
 * @category combinators
 */
export const fromJson = (json: string): Either.Either<CloudEvent, CloudEventError> =>
  Either.mapLeft(decodeJson(json), formatError)

/**
 * Whether a content type carries JSON (`application/json`, `application/cloudevents+json`, `text/json`...).
 *
 * @since 0.2.0
 * @category guards
 */
export const isJsonContentType = (contentType: string | undefined): boolean => internal.isJson(contentType)
