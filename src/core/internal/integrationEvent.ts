/**
 * Contracts, accepted versions, message ids, and the CloudEvent <-> contract data conversions.
 */
import { Either, ParseResult, Schema } from "effect"
import { v5 } from "uuid"
import type * as CloudEvent from "../CloudEvent.js"
import type { Accepting, Any, Attributes, DataFailure, IntegrationEvent, Upcast } from "../IntegrationEvent.js"
import { TypeId } from "../IntegrationEvent.js"

/** Lower-case words of letters and digits, joined by dots or dashes (valid broker subject tokens). */
const TYPE = /^[a-z0-9]+(?:-[a-z0-9]+)*(?:\.[a-z0-9]+(?:-[a-z0-9]+)*)*$/

/** The namespace of effect-ddd's message ids (UUIDv5). */
const NAMESPACE = "6b1f3c52-9f0e-5c1a-8f43-2d7e9a4b0c11"

const format = (error: ParseResult.ParseError): string =>
  ParseResult.ArrayFormatter.formatErrorSync(error)
    .map((issue) => (issue.path.length > 0 ? `${issue.path.join(".")}: ${issue.message}` : issue.message))
    .join("; ")

export const make = <const Type extends string, const Version extends number, A, I>(options: {
  readonly type: Type
  readonly version: Version
  readonly schema: Schema.Schema<A, I>
  readonly description?: string
}): IntegrationEvent<Type, Version, A, I> => {
  if (!TYPE.test(options.type)) {
    throw new Error(
      `IntegrationEvent.make: type "${options.type}" must be lower-case words of letters and digits joined by dots or dashes`
    )
  }
  if (!Number.isSafeInteger(options.version) || options.version < 1) {
    throw new Error(`IntegrationEvent.make: version ${options.version} of ${options.type} must be a positive integer`)
  }
  const decodeUnknown = Schema.decodeUnknownEither(options.schema)
  return {
    [TypeId]: TypeId,
    type: options.type,
    version: options.version,
    schema: options.schema,
    eventType: `${options.type}.v${options.version}`,
    description: options.description,
    current: options.version,
    versions: [options.version],
    decodeData: (version, data) =>
      version === options.version
        ? Either.mapLeft(
          decodeUnknown(data),
          (error): DataFailure => ({ reason: "InvalidData", detail: format(error) })
        )
        : Either.left(unsupported(options.type, version, [options.version]))
  }
}

const unsupported = (type: string, version: number, versions: ReadonlyArray<number>): DataFailure => ({
  reason: "UnsupportedVersion",
  detail: `version ${version} of ${type} is not accepted (accepted: ${versions.join(", ")})`
})

export const accepting = <Type extends string, A>(
  current: IntegrationEvent<Type, number, A, any>,
  older: ReadonlyArray<Upcast<Any, A>>
): Accepting<Type, A> => {
  const readers = new Map<number, (data: unknown) => Either.Either<A, DataFailure>>()
  readers.set(current.version, (data) => current.decodeData(current.version, data))
  for (const { from, upcast } of older) {
    if (from.type !== current.type) {
      throw new Error(`IntegrationEvent.accepting: ${from.eventType} is not a version of ${current.type}`)
    }
    if (readers.has(from.version)) {
      throw new Error(`IntegrationEvent.accepting: version ${from.version} of ${current.type} is listed twice`)
    }
    readers.set(from.version, (data) =>
      Either.flatMap(from.decodeData(from.version, data), (old) => {
        try {
          return Either.right(upcast(old))
        } catch (error) {
          return Either.left<DataFailure>({
            reason: "UpcastFailed",
            detail: `upcaster from version ${from.version} failed: ${String(error)}`
          })
        }
      }))
  }
  const versions = [...readers.keys()].sort((a, b) => a - b)
  return {
    type: current.type,
    current: current.version,
    versions,
    decodeData: (version, data) => {
      const read = readers.get(version)
      return read === undefined ? Either.left(unsupported(current.type, version, versions)) : read(data)
    }
  }
}

export const parseEventType = (eventType: string): { readonly type: string; readonly version: number } | undefined => {
  const match = /^(.+)\.v([1-9][0-9]*)$/.exec(eventType)
  if (match === null) return undefined
  const version = Number(match[2])
  return Number.isSafeInteger(version) ? { type: match[1]!, version } : undefined
}

export const messageId = (eventType: string, sourceEventId: string): string =>
  v5(`${eventType}\u0000${sourceEventId}`, NAMESPACE)

export const encode = <Type extends string, Version extends number, A, I>(
  contract: IntegrationEvent<Type, Version, A, I>,
  data: A,
  attributes: Attributes
): Either.Either<CloudEvent.CloudEvent, string> =>
  Either.map(Either.mapLeft(Schema.encodeEither(contract.schema)(data), format), (encoded) => {
    const { extensions, time, ...rest } = attributes
    return {
      specversion: "1.0" as const,
      ...rest,
      type: contract.eventType,
      ...(time === undefined ? {} : { time: time.toISOString() }),
      datacontenttype: "application/json",
      ...(extensions === undefined || Object.keys(extensions).length === 0 ? {} : { extensions }),
      data: encoded
    }
  })

export interface DecodeFailure {
  readonly reason: "UnknownType" | "UnsupportedVersion" | "InvalidData" | "UpcastFailed"
  readonly detail: string
}

export const decode = (
  accepted: ReadonlyArray<Accepting<string, any>>,
  event: CloudEvent.CloudEvent
): Either.Either<unknown, DecodeFailure> => {
  const parsed = parseEventType(event.type)
  const reader = parsed === undefined ? undefined : accepted.find((a) => a.type === parsed.type)
  if (parsed === undefined || reader === undefined) {
    return Either.left({
      reason: "UnknownType",
      detail: `type ${event.type} is not accepted (accepted: ${accepted.map((a) => a.type).join(", ") || "none"})`
    })
  }
  return Either.map(
    reader.decodeData(parsed.version, event.data),
    (data) => ({ type: parsed.type, version: parsed.version, data, event })
  )
}
