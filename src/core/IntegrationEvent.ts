/**
 * Integration events: the public, versioned contracts one service publishes for others, separate
 * from any aggregate's domain events. A contract has a type (`catalog.course-published`), a
 * version and a Schema for its data:
 *
 * ```ts
 * const CoursePublishedV1 = IntegrationEvent.make({ type: "catalog.course-published", version: 1, schema })
 * ```
 *
 * Several versions of one type coexist: a producer publishes one of them, and each consumer says
 * which it accepts, with an upcaster from every older version it still reads:
 *
 * ```ts
 * const CoursePublished = IntegrationEvent.accepting(CoursePublishedV2, {
 *   from: CoursePublishedV1,
 *   upcast: (v1) => ({ ...v1, lessons: 0 })
 * })
 * ```
 *
 * On the wire an integration event is a CloudEvent (see `CloudEvent`) whose `type` attribute
 * carries the version (`catalog.course-published.v1`), whose `id` is derived from the domain event
 * and the contract (`messageId`), so a republished event is recognised by the broker's duplicate
 * detection and the consumers' inboxes.
 *
 * @since 0.2.0
 * @module
 */
import { Either, Schema } from "effect"
import type * as CloudEvent from "./CloudEvent.js"
import * as internal from "./internal/integrationEvent.js"

/**
 * @since 0.2.0
 * @category models
 */
export const TypeId: unique symbol = Symbol.for("effect-ddd/IntegrationEvent")

/**
 * @since 0.2.0
 * @category models
 */
export type TypeId = typeof TypeId

/**
 * What a consumer reads of one event type: the versions it accepts and how each becomes the data
 * it handles. Every contract accepts itself; `accepting` adds older versions.
 *
 * @since 0.2.0
 * @category models
 */
export interface Accepting<out Type extends string, out A> {
  readonly type: Type
  /** The version the data is upcast to. */
  readonly current: number
  /** The accepted versions, ascending. */
  readonly versions: ReadonlyArray<number>
  /** Decode the (JSON) data of an accepted version and upcast it. */
  readonly decodeData: (version: number, data: unknown) => Either.Either<A, DataFailure>
}

/**
 * Why data could not be read: a version not accepted, data not matching the contract, or a failing upcaster.
 *
 * @since 0.2.0
 * @category models
 */
export interface DataFailure {
  readonly reason: "UnsupportedVersion" | "InvalidData" | "UpcastFailed"
  readonly detail: string
}

/**
 * A versioned contract.
 *
 * @since 0.2.0
 * @category models
 */
export interface IntegrationEvent<out Type extends string, out Version extends number, in out A, in out I = A>
  extends Accepting<Type, A>
{
  readonly [TypeId]: TypeId
  readonly version: Version
  readonly schema: Schema.Schema<A, I>
  /** The CloudEvents `type` attribute and the broker subject: `<type>.v<version>`. */
  readonly eventType: `${Type}.v${Version}`
  readonly description: string | undefined
}

/**
 * Any contract.
 *
 * @since 0.2.0
 * @category models
 */
export type Any = IntegrationEvent<string, number, any, any>

/**
 * The data type of a contract or of what a consumer accepts.
 *
 * @since 0.2.0
 * @category models
 */
export type Data<C> = C extends Accepting<any, infer A> ? A : never

/**
 * Define a contract. The type is lower-case words separated by dots or dashes
 * (`catalog.course-published`), the version a positive integer.
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = <const Type extends string, const Version extends number, A, I>(options: {
  readonly type: Type
  readonly version: Version
  readonly schema: Schema.Schema<A, I>
  readonly description?: string
}): IntegrationEvent<Type, Version, A, I> => internal.make(options)

/**
 * An older version and how its data becomes the current version's.
 *
 * @since 0.2.0
 * @category models
 */
export interface Upcast<From extends Any, A> {
  /** The older version. */
  readonly from: From
  /** Its data as the current version's. */
  readonly upcast: (data: Data<From>) => A
}

/**
 * Accept `current` and older versions of the same type, each with an upcaster to the current
 * version's data. The type checker makes sure every `from` is a contract of the same type and
 * every upcaster returns the current data.
 *
 * @since 0.2.0
 * @category constructors
 */
export const accepting = <
  const Type extends string,
  A,
  const Older extends ReadonlyArray<IntegrationEvent<NoInfer<Type>, number, any, any>>
>(
  current: IntegrationEvent<Type, number, A, any>,
  ...older: { readonly [K in keyof Older]: Upcast<Older[K], NoInfer<A>> }
): Accepting<Type, A> => internal.accepting(current, older as ReadonlyArray<Upcast<Any, A>>)

/**
 * An incoming integration event, decoded and upcast.
 *
 * @since 0.2.0
 * @category models
 */
export interface Received<out Type extends string, out A> {
  readonly type: Type
  /** The version it was published with. */
  readonly version: number
  /** The data, upcast to the accepted current version. */
  readonly data: A
  /** The envelope: id, source, time, correlation and causation ids, trace context, partition key. */
  readonly event: CloudEvent.CloudEvent
}

/**
 * What decoding with a list of accepted types yields: a union discriminated by `type`.
 *
 * @since 0.2.0
 * @category models
 */
export type ReceivedOf<R> = R extends Accepting<infer T, infer A> ? Received<T, A> : never

/**
 * Why an incoming event cannot be handled: its type is not accepted (`UnknownType`), its version
 * is not (`UnsupportedVersion`), its data does not match the contract (`InvalidData`), or an
 * upcaster failed (`UpcastFailed`). Such a message is poison: retrying does not help.
 *
 * @since 0.2.0
 * @category errors
 */
export class IntegrationEventDecodeError extends Schema.TaggedError<IntegrationEventDecodeError>()(
  "IntegrationEventDecodeError",
  {
    reason: Schema.Literal("UnknownType", "UnsupportedVersion", "InvalidData", "UpcastFailed"),
    /** The message id (CloudEvents `id`). */
    id: Schema.String,
    /** The CloudEvents `type` attribute as received. */
    eventType: Schema.String,
    detail: Schema.String
  }
) {
  override get message() {
    return `integration event ${this.id} (${this.eventType}): ${this.detail}`
  }
}

/**
 * Data that does not satisfy the contract's schema, found before anything is published.
 *
 * @since 0.2.0
 * @category errors
 */
export class IntegrationEventEncodeError extends Schema.TaggedError<IntegrationEventEncodeError>()(
  "IntegrationEventEncodeError",
  {
    eventType: Schema.String,
    detail: Schema.String
  }
) {
  override get message() {
    return `${this.eventType}: the data does not match the contract: ${this.detail}`
  }
}

/**
 * Read `<type>.v<version>` (the CloudEvents `type` attribute).
 *
 * @since 0.2.0
 * @category combinators
 */
export const parseEventType = (eventType: string): { readonly type: string; readonly version: number } | undefined =>
  internal.parseEventType(eventType)

/**
 * The id of the message carrying a domain event under a contract: a UUIDv5 of the event id and the
 * contract's type and version. Publishing the same event again (after a crash, a timeout) yields
 * the same id, which the broker's duplicate window and the consumers' inboxes recognise.
 *
 * @since 0.2.0
 * @category constructors
 */
export const messageId = (contract: Any, sourceEventId: string): string =>
  internal.messageId(contract.eventType, sourceEventId)

/**
 * The CloudEvent attributes a producer chooses (the rest comes from the contract).
 *
 * @since 0.2.0
 * @category models
 */
export interface Attributes {
  /** The message id; `messageId(contract, eventId)` for events published from the outbox. */
  readonly id: string
  /** The producing service, as a URI reference: `/catalog`, `urn:example:catalog`. */
  readonly source: string
  /** What the event is about (usually the aggregate id). */
  readonly subject?: string
  /** When it happened. */
  readonly time?: Date
  /** Events with the same key keep their order (usually the aggregate id). */
  readonly partitionkey?: string
  readonly correlationid?: string
  readonly causationid?: string
  readonly traceparent?: string
  readonly tracestate?: string
  readonly extensions?: Readonly<Record<string, string>>
}

/**
 * Build the CloudEvent for a contract's data: the data is encoded with the contract's schema,
 * `type` is `<type>.v<version>`, the content type `application/json`.
 *
 * @since 0.2.0
 * @category combinators
 */
export const encode = <Type extends string, Version extends number, A, I>(
  contract: IntegrationEvent<Type, Version, A, I>,
  data: A,
  attributes: Attributes
): Either.Either<CloudEvent.CloudEvent, IntegrationEventEncodeError> =>
  Either.mapLeft(
    internal.encode(contract, data, attributes),
    (detail) => new IntegrationEventEncodeError({ eventType: contract.eventType, detail })
  )

/**
 * Decode a CloudEvent with the contracts a consumer accepts: the result is discriminated by
 * `type`, its data upcast to the accepted version.
 *
 * @since 0.2.0
 * @category combinators
 */
export const decode = <const R extends ReadonlyArray<Accepting<string, any>>>(
  accepted: R,
  event: CloudEvent.CloudEvent
): Either.Either<ReceivedOf<R[number]>, IntegrationEventDecodeError> =>
  Either.mapLeft(
    internal.decode(accepted, event),
    (failure) => new IntegrationEventDecodeError({ ...failure, id: event.id, eventType: event.type })
  ) as Either.Either<ReceivedOf<R[number]>, IntegrationEventDecodeError>

/**
 * Whether a value is a contract made by `make`.
 *
 * @since 0.2.0
 * @category guards
 */
export const isIntegrationEvent = (u: unknown): u is Any => typeof u === "object" && u !== null && TypeId in u
