/**
 * Every error answer is JSON (`ErrorBody`), also for what the API's own encoding never sees: a
 * request that does not match the contract (every problem listed), a body that is not JSON, a
 * missing admin token (with `WWW-Authenticate`), a failure nobody expected (logged; a 500), and
 * what Node's HTTP parser refuses before any handler runs (a CONNECT and a request without a Host
 * header included). The API's declared errors pass through, to be encoded with their status.
 */
import { HttpApiError, type HttpApp, HttpServerError, HttpServerRequest } from "@effect/platform"
import { NodeHttpServerRequest } from "@effect/platform-node"
import { Cause, Chunk, Effect, Option, Schema } from "effect"
import { IncomingMessage, type Server } from "node:http"
import type { Duplex } from "node:stream"
import * as ErrorBody from "./ErrorBody.js"
import {
  InternalServerError,
  InvalidRequest,
  Json,
  MalformedBody,
  MalformedRequest,
  RouteNotFound,
  Unauthorized
} from "./HttpErrors.js"
import { pathOf } from "./Routes.js"

/** The body could not be parsed: the API turns that into a defect before any handler runs. */
const isMalformedBody = (cause: Cause.Cause<unknown>) =>
  Chunk.some(
    Cause.defects(cause),
    (defect) => HttpServerError.isServerError(defect) && defect._tag === "RequestError" && defect.reason === "Decode"
  )

export const middleware = (app: HttpApp.Default): HttpApp.Default =>
  Effect.catchAllCause(app, (cause) => {
    if (Cause.isInterruptedOnly(cause)) return Effect.failCause(cause)
    const failure = Cause.failureOption(cause)
    if (Option.isSome(failure)) {
      const error: unknown = failure.value
      if (error instanceof HttpApiError.HttpApiDecodeError) {
        return ErrorBody.respond(Json.InvalidRequest, InvalidRequest.fromDecodeError(error))
      }
      if (error instanceof Unauthorized) {
        return ErrorBody.respond(Json.Unauthorized, error, { "www-authenticate": `Bearer realm="admin"` })
      }
      if (HttpServerError.isServerError(error) && error._tag === "RouteNotFound") {
        const path = pathOf(error.request.url)
        return ErrorBody.respond(Json.RouteNotFound, new RouteNotFound({ method: error.request.method, path }))
      }
      return Effect.failCause(cause)
    }
    if (isMalformedBody(cause)) {
      return ErrorBody.respond(Json.MalformedBody, new MalformedBody({ message: "the request body is not valid JSON" }))
    }
    return Effect.zipRight(
      Effect.logError("request failed", cause),
      ErrorBody.respond(Json.InternalServerError, new InternalServerError())
    )
  })

const encodeMalformedRequest = Schema.encodeSync(Schema.parseJson(Json.MalformedRequest))
const encodeRouteNotFound = Schema.encodeSync(Schema.parseJson(Json.RouteNotFound))

/**
 * An HTTP/1.1 request must name its host: one without is a 400 (Node's own check, turned off in
 * `Http.ts`, answers without a body).
 */
export const requireHost = (app: HttpApp.Default): HttpApp.Default =>
  Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
    const source: unknown = NodeHttpServerRequest.toIncomingMessage(request)
    return source instanceof IncomingMessage && source.httpVersion === "1.1" && request.headers.host === undefined
      ? ErrorBody.respond(Json.MalformedRequest, new MalformedRequest({ code: "no Host header" }))
      : app
  })

/**
 * A JSON answer written straight to a socket, then the connection closed. What the client still
 * sends is read and dropped until it closes its side (for 2 s at most): a connection closed while
 * the client is still sending is reset, and the reset can destroy the answer before it is read.
 */
const answerRaw = (socket: Duplex, status: number, reason: string, body: string) => {
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
      `connection: close\r\n\r\n${body}`
  )
  socket.resume()
  setTimeout(() => socket.destroy(), 2_000).unref()
}

/**
 * What Node's HTTP parser refuses before any handler runs (a malformed request, headers too
 * large, a request too slow to arrive) is answered with JSON too, and the connection closed. So
 * is a CONNECT (a tunnel, which Node hands over without an answer): no route serves it.
 */
export const answerClientErrors = (server: Server): void => {
  server.on("clientError", (error: NodeJS.ErrnoException, socket) => {
    if (error.code === "ECONNRESET") return void socket.destroy()
    // answered already: the parser fails again on what the client still sends
    if (!socket.writable) return
    const [status, reason] = error.code === "HPE_HEADER_OVERFLOW"
      ? [431, "Request Header Fields Too Large"]
      : error.code === "ERR_HTTP_REQUEST_TIMEOUT"
      ? [408, "Request Timeout"]
      : [400, "Bad Request"]
    answerRaw(
      socket,
      status,
      reason,
      encodeMalformedRequest(new MalformedRequest({ code: error.code ?? error.message }))
    )
  })
  server.on("connect", (request: IncomingMessage, socket: Duplex) => {
    socket.on("error", () => socket.destroy())
    answerRaw(
      socket,
      404,
      "Not Found",
      encodeRouteNotFound(new RouteNotFound({ method: "CONNECT", path: request.url ?? "" }))
    )
  })
}
