/**
 * CloudEvents binary and structured modes: the mapping between attributes and headers or JSON
 * keys. Validation of the result is the schemas' job (`CloudEvent.ts`).
 */
import { Either, Encoding, ParseResult } from "effect"

/** Attributes written as `ce-<name>` headers, in this order. `datacontenttype` is `content-type`. */
const ATTRIBUTES = [
  "specversion",
  "id",
  "source",
  "type",
  "subject",
  "time",
  "dataschema",
  "correlationid",
  "causationid",
  "traceparent",
  "tracestate",
  "partitionkey"
] as const

const KNOWN = new Set<string>([...ATTRIBUTES, "datacontenttype"])

type Event =
  & {
    readonly [K in (typeof ATTRIBUTES)[number] | "datacontenttype"]?: string
  }
  & {
    readonly extensions?: Readonly<Record<string, string>>
    readonly data?: unknown
  }

const encoder = new TextEncoder()
const decoder = new TextDecoder("utf-8", { fatal: true })

export const isJson = (contentType: string | undefined): boolean => {
  if (contentType === undefined) return true
  const mime = contentType.split(";")[0]!.trim().toLowerCase()
  return mime === "application/json" || mime === "text/json" || mime.endsWith("+json")
}

const dataBytes = (event: Event): Uint8Array => {
  if (event.data === undefined) return new Uint8Array(0)
  if (isJson(event.datacontenttype)) return encoder.encode(JSON.stringify(event.data))
  if (event.data instanceof Uint8Array) return event.data
  return encoder.encode(String(event.data))
}

export const toBinary = (event: Event): { headers: Record<string, string>; payload: Uint8Array } => {
  const headers: Record<string, string> = {}
  for (const name of ATTRIBUTES) {
    const value = event[name]
    if (value !== undefined) headers[`ce-${name}`] = value
  }
  for (const [name, value] of Object.entries(event.extensions ?? {})) headers[`ce-${name}`] = value
  if (event.datacontenttype !== undefined) headers["content-type"] = event.datacontenttype
  // W3C trace context as tracing libraries read it, next to the CloudEvents extension attributes
  if (event.traceparent !== undefined) headers["traceparent"] = event.traceparent
  if (event.tracestate !== undefined) headers["tracestate"] = event.tracestate
  return { headers, payload: dataBytes(event) }
}

const readData = (contentType: string | undefined, payload: Uint8Array): Either.Either<unknown, string> => {
  if (payload.length === 0) return Either.right(undefined)
  if (!isJson(contentType)) return Either.right(payload)
  try {
    return Either.right(JSON.parse(decoder.decode(payload)))
  } catch (error) {
    return Either.left(
      `the payload is not valid UTF-8 JSON (${error instanceof Error ? error.message : String(error)})`
    )
  }
}

export const fromBinary = (
  binary: { readonly headers: Readonly<Record<string, string>>; readonly payload: Uint8Array }
): Either.Either<Event, string> => {
  const attributes: Record<string, string> = {}
  const extensions: Record<string, string> = {}
  let contentType: string | undefined
  for (const [rawName, value] of Object.entries(binary.headers)) {
    const name = rawName.toLowerCase()
    if (name === "content-type") contentType = value
    else if (name.startsWith("ce-")) {
      const attribute = name.slice(3)
      if (KNOWN.has(attribute)) attributes[attribute] = value
      else extensions[attribute] = value
    }
  }
  if (attributes["specversion"] === undefined) return Either.left("no ce-specversion header (not a CloudEvent)")
  return Either.map(readData(contentType, binary.payload), (data) => ({
    ...attributes,
    ...(contentType === undefined ? {} : { datacontenttype: contentType }),
    ...(Object.keys(extensions).length === 0 ? {} : { extensions }),
    ...(data === undefined ? {} : { data })
  }))
}

export const toStructured = (event: Event): Record<string, unknown> => {
  const json: Record<string, unknown> = {}
  for (const name of [...ATTRIBUTES, "datacontenttype"] as const) {
    const value = event[name]
    if (value !== undefined) json[name] = value
  }
  for (const [name, value] of Object.entries(event.extensions ?? {})) json[name] = value
  if (event.data instanceof Uint8Array) json["data_base64"] = Encoding.encodeBase64(event.data)
  else if (event.data !== undefined) json["data"] = event.data
  return json
}

export const fromStructured = (json: Readonly<Record<string, unknown>>): Either.Either<Event, string> => {
  const event: Record<string, unknown> = {}
  const extensions: Record<string, string> = {}
  for (const [name, value] of Object.entries(json)) {
    if (name === "data") event["data"] = value
    else if (name === "data_base64") {
      if (typeof value !== "string") return Either.left("data_base64 must be a string")
      const bytes = Encoding.decodeBase64(value)
      if (Either.isLeft(bytes)) return Either.left("data_base64 is not valid base64")
      event["data"] = bytes.right
    } else if (KNOWN.has(name)) event[name] = value
    else if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") {
      extensions[name] = String(value)
    } else return Either.left(`extension attribute ${name} must be a string, number or boolean`)
  }
  if (Object.keys(extensions).length > 0) event["extensions"] = extensions
  return Either.right(event as Event)
}

export const formatParseError = (error: ParseResult.ParseError): string =>
  ParseResult.ArrayFormatter.formatErrorSync(error)
    .map((issue) => (issue.path.length > 0 ? `${issue.path.join(".")}: ${issue.message}` : issue.message))
    .join("; ")
