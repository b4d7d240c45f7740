/**
 * Request bodies are JSON of at most 1 MiB. A larger body is refused with a 413 once its first
 * MiB has been read (at once when its `Content-Length` says so), without reading the rest into
 * memory; a body of another content type gets a 415.
 */
import { HttpMiddleware, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { NodeHttpServerRequest } from "@effect/platform-node"
import { Effect, Option } from "effect"
import type { IncomingMessage } from "node:http"

/** The largest request body accepted: 1 MiB. */
export const maxBytes = 1024 * 1024

const tooLarge = HttpServerResponse.unsafeJson(
  { _tag: "PayloadTooLarge", message: `the request body is larger than ${maxBytes} bytes` },
  // the rest of the body is not read: the connection cannot be reused
  { status: 413, headers: { connection: "close" } }
)

const notJson = HttpServerResponse.unsafeJson(
  { _tag: "UnsupportedMediaType", message: "the request body must be JSON (Content-Type: application/json)" },
  { status: 415 }
)

const isJson = (contentType: string) => {
  const type = contentType.split(";")[0]!.trim().toLowerCase()
  return type === "application/json" || type.endsWith("+json")
}

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

export const limitBody = HttpMiddleware.make((app) =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const { headers } = request
    const length = headers["content-length"]
    const bodyless = length === undefined ? headers["transfer-encoding"] === undefined : length === "0"
    // no API endpoint reads the body of a GET or HEAD
    if (bodyless || request.method === "GET" || request.method === "HEAD") return yield* app
    if (!isJson(headers["content-type"] ?? "application/json")) return notJson
    if (Number(length ?? 0) > maxBytes) return tooLarge
    const body = yield* Effect.orDie(readAtMost(NodeHttpServerRequest.toIncomingMessage(request)))
    if (Option.isNone(body)) return tooLarge
    // the API reads the body from a request that already holds it
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
)
