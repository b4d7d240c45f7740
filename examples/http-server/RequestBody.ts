/**
 * The body of an endpoint that reads JSON: declared `application/json` (else 415), not empty (else
 * 400), at most 1 MiB (else 413, once its first MiB has been read, or at once when its
 * `Content-Length` says so, without keeping the rest in memory), nesting arrays and objects at
 * most 32 levels deep (else 400).
 *
 * A body refused, or sent where no endpoint reads one, is still read to its end and dropped
 * before the answer (for 5 s at most; after that the answer closes the connection): a connection
 * closed while the client is still sending is reset, and the reset can destroy the answer before
 * the client reads it.
 */
import { type HttpApp, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { NodeHttpServerRequest } from "@effect/platform-node"
import { Effect, Either, Option } from "effect"
import { IncomingMessage } from "node:http"
import * as ErrorBody from "./ErrorBody.js"
import { InvalidRequest, Json, MalformedBody, PayloadTooLarge, UnsupportedMediaType } from "./HttpErrors.js"

/** The largest request body accepted: 1 MiB. */
export const maxBytes = 1024 * 1024

/** The deepest nesting of arrays and objects accepted in a body (the API's payloads need 3). */
export const maxDepth = 32

/** How long the rest of a body not read is read and dropped before the answer. */
const drainMillis = 5_000

const tooLarge = ErrorBody.respond(Json.PayloadTooLarge, new PayloadTooLarge({ limit: maxBytes }))

const tooDeep = ErrorBody.respond(
  Json.InvalidRequest,
  new InvalidRequest({
    message: `body: nests arrays and objects more than ${maxDepth} levels deep`,
    issues: [{ field: "body", message: `nests arrays and objects more than ${maxDepth} levels deep` }]
  })
)

/** The body stopped arriving: the client went away, or Node's parser refused the rest (and answered). */
const unreadable = ErrorBody.respond(
  Json.MalformedBody,
  new MalformedBody({ message: "the request body could not be read to its end" })
)

const isJson = (contentType: string) => contentType.split(";")[0]!.trim().toLowerCase() === "application/json"

/**
 * Whether JSON text nests arrays and objects deeper than `limit` (strings skipped; the bytes that
 * matter are ASCII, never part of a UTF-8 sequence). Decoding a deep body fails, but describing
 * the failure recurses through it until the stack overflows.
 */
const nestsDeeperThan = (body: Buffer, limit: number) => {
  let depth = 0
  let inString = false
  for (let i = 0; i < body.length; i++) {
    const byte = body[i]
    if (inString) {
      if (byte === 0x5c) i++
      else if (byte === 0x22) inString = false
    } else if (byte === 0x22) inString = true
    else if (byte === 0x5b || byte === 0x7b) {
      if (++depth > limit) return true
    } else if (byte === 0x5d || byte === 0x7d) depth--
  }
  return false
}

/** The body, or none when it is larger than `maxBytes` (the rest is left to `drain`). */
const readAtMost = (source: IncomingMessage) =>
  Effect.async<Option.Option<Buffer>, Error>((resume) => {
    const chunks: Array<Buffer> = []
    let size = 0
    const stop = () => {
      source.off("data", onData)
      source.off("end", onEnd)
      source.off("error", onError)
    }
    const onData = (chunk: Buffer) => {
      size += chunk.length
      if (size <= maxBytes) return void chunks.push(chunk)
      stop()
      resume(Effect.succeed(Option.none()))
    }
    const onEnd = () => {
      stop()
      resume(Effect.succeed(Option.some(Buffer.concat(chunks))))
    }
    const onError = (error: Error) => {
      stop()
      resume(Effect.fail(error))
    }
    source.on("data", onData)
    source.on("end", onEnd)
    source.on("error", onError)
    return Effect.sync(stop)
  })

/** Read and drop the rest of a body; whether it ended within `drainMillis`. */
const drain = (source: IncomingMessage) =>
  Effect.async<boolean>((resume) => {
    if (source.readableEnded) return resume(Effect.succeed(true))
    const stop = () => {
      clearTimeout(timer)
      source.off("end", onEnd)
      source.off("close", onClose)
    }
    const onEnd = () => {
      stop()
      resume(Effect.succeed(true))
    }
    const onClose = () => {
      stop()
      resume(Effect.succeed(false))
    }
    const timer = setTimeout(onClose, drainMillis)
    source.on("end", onEnd)
    source.on("close", onClose)
    source.resume()
    return Effect.sync(stop)
  })

/**
 * `answer` once the request's body (if it has one nobody will read) has been dropped; with
 * `connection: close` if it did not end in time. A request made in-process has nothing to drop.
 */
export const afterDraining = <E, R>(
  request: HttpServerRequest.HttpServerRequest,
  answer: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
): Effect.Effect<HttpServerResponse.HttpServerResponse, E, R> => {
  const source: unknown = NodeHttpServerRequest.toIncomingMessage(request)
  if (!(source instanceof IncomingMessage) || source.readableEnded) return answer
  return Effect.flatMap(
    drain(source),
    (ended) =>
      ended ? answer : Effect.map(answer, (response) => HttpServerResponse.setHeader(response, "connection", "close"))
  )
}

/** Check the body, read it (1 MiB at most) and hand the API a request that holds it. */
export const json = (app: HttpApp.Default): HttpApp.Default =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const { headers } = request
    const length = headers["content-length"]
    if (length === undefined ? headers["transfer-encoding"] === undefined : length === "0") {
      return yield* ErrorBody.respond(
        Json.MalformedBody,
        new MalformedBody({ message: "the request body is empty: JSON expected" })
      )
    }
    const contentType = headers["content-type"]
    if (contentType === undefined || !isJson(contentType)) {
      return yield* afterDraining(
        request,
        ErrorBody.respond(
          Json.UnsupportedMediaType,
          new UnsupportedMediaType(contentType === undefined ? {} : { contentType })
        )
      )
    }
    if (Number(length ?? 0) > maxBytes) return yield* afterDraining(request, tooLarge)
    const source: unknown = NodeHttpServerRequest.toIncomingMessage(request)
    const read = source instanceof IncomingMessage
      ? yield* Effect.either(readAtMost(source))
      // a request made in-process (no socket): its body is at hand already
      : yield* Effect.map(
        Effect.either(request.arrayBuffer),
        Either.map((bytes) => (bytes.byteLength > maxBytes ? Option.none() : Option.some(Buffer.from(bytes))))
      )
    if (Either.isLeft(read)) return yield* unreadable
    if (Option.isNone(read.right)) return yield* afterDraining(request, tooLarge)
    const body = read.right.value
    if (nestsDeeperThan(body, maxDepth)) return yield* tooDeep
    const { "transfer-encoding": _, ...rest } = headers
    const buffered = HttpServerRequest.fromWeb(
      new Request(new URL(request.url, "http://localhost"), {
        method: request.method,
        headers: { ...rest, "content-length": String(body.length) },
        body
      })
    )
    return yield* Effect.provideService(app, HttpServerRequest.HttpServerRequest, buffered)
  })
