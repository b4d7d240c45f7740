/**
 * Every error answer is JSON (`ErrorBody`), also for what the API's own encoding never sees: a
 * request that does not match the contract (every problem listed), a body that is not JSON, a
 * missing admin token (with `WWW-Authenticate`), a failure nobody expected (logged; a 500), and
 * what Node's HTTP parser refuses before any handler runs. The API's declared errors pass through,
 * to be encoded with their status.
 */
import { HttpApiError, type HttpApp, HttpServerError } from "@effect/platform"
import { Cause, Chunk, Effect, Option, Schema } from "effect"
import type { Server } from "node:http"
import * as ErrorBody from "./ErrorBody.js"
import { InternalServerError, InvalidRequest, Json, MalformedBody, MalformedRequest, RouteNotFound, Unauthorized } from "./HttpErrors.js"
import { pathOf } from "./Routes.js"

/** The body could not be parsed: the API turns that into a defect before any handler runs. */
const isMalformedBody = (cause: Cause.Cause<unknown>) =>
  Chunk.some(Cause.defects(cause), (defect) =>
    HttpServerError.isServerError(defect) && defect._tag === "RequestError" && defect.reason === "Decode")

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

/**
 * What Node's HTTP parser refuses before any handler runs (a malformed request, headers too
 * large, a request too slow to arrive) is answered with JSON too, and the connection closed.
 */
export const answerClientErrors = (server: Server): void => {
  server.on("clientError", (error: NodeJS.ErrnoException, socket) => {
    if (error.code === "ECONNRESET" || !socket.writable) return void socket.destroy()
    const [status, reason] = error.code === "HPE_HEADER_OVERFLOW"
      ? [431, "Request Header Fields Too Large"]
      : error.code === "ERR_HTTP_REQUEST_TIMEOUT"
      ? [408, "Request Timeout"]
      : [400, "Bad Request"]
    const body = encodeMalformedRequest(new MalformedRequest({ code: error.code ?? error.message }))
    socket.end(
      `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
        `connection: close\r\n\r\n${body}`
    )
  })
}
