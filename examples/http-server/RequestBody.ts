/**
 * The body of an endpoint that reads JSON: declared `application/json` (else 415), not empty (else
 * 400), at most 1 MiB (else 413, once its first MiB has been read, or at once when its
 * `Content-Length` says so, without reading the rest into memory).
 */
import { type HttpApp, HttpServerRequest } from "@effect/platform"
import { NodeHttpServerRequest } from "@effect/platform-node"
import { Effect, Option } from "effect"
import { IncomingMessage } from "node:http"
import * as ErrorBody from "./ErrorBody.js"
import { Json, MalformedBody, PayloadTooLarge, UnsupportedMediaType } from "./HttpErrors.js"

/** The largest request body accepted: 1 MiB. */
export const maxBytes = 1024 * 1024

/** The rest of the body is not read: the connection cannot be reused. */
const tooLarge = ErrorBody.respond(Json.PayloadTooLarge, new PayloadTooLarge({ limit: maxBytes }), { connection: "close" })

const isJson = (contentType: string) => contentType.split(";")[0]!.trim().toLowerCase() === "application/json"

/** The body, or none when it is larger than `maxBytes` (the rest is then discarded unread). */
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
      source.resume()
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

/** Check the body, read it (1 MiB at most) and hand the API a request that holds it. */
export const json = (app: HttpApp.Default): HttpApp.Default =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const { headers } = request
    const length = headers["content-length"]
    if (length === undefined ? headers["transfer-encoding"] === undefined : length === "0") {
      return yield* ErrorBody.respond(Json.MalformedBody, new MalformedBody({ message: "the request body is empty: JSON expected" }))
    }
    const contentType = headers["content-type"]
    if (contentType === undefined || !isJson(contentType)) {
      return yield* ErrorBody.respond(
        Json.UnsupportedMediaType,
        new UnsupportedMediaType(contentType === undefined ? {} : { contentType })
      )
    }
    if (Number(length ?? 0) > maxBytes) return yield* tooLarge
    const source: unknown = NodeHttpServerRequest.toIncomingMessage(request)
    const body = source instanceof IncomingMessage
      ? yield* Effect.orDie(readAtMost(source))
      // a request made in-process (no socket): its body is at hand already
      : yield* Effect.map(
        Effect.orDie(request.arrayBuffer),
        (bytes) => (bytes.byteLength > maxBytes ? Option.none() : Option.some(Buffer.from(bytes)))
      )
    if (Option.isNone(body)) return yield* tooLarge
    const { "transfer-encoding": _, ...rest } = headers
    const buffered = HttpServerRequest.fromWeb(
      new Request(new URL(request.url, "http://localhost"), {
        method: request.method,
        headers: { ...rest, "content-length": String(body.value.length) },
        body: body.value
      })
    )
    return yield* Effect.provideService(app, HttpServerRequest.HttpServerRequest, buffered)
  })
