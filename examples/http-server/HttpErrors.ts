/**
 * Every error answer is JSON: requests the API never sees (not HTTP, an unknown route, a body
 * that is not valid JSON) and failures nobody expected get a JSON body with a `_tag` and a
 * `message`. The API's declared errors pass through, to be encoded with their status.
 */
import { HttpMiddleware, HttpServerError, HttpServerResponse } from "@effect/platform"
import { Cause, Chunk, Effect, Option } from "effect"
import type { Server } from "node:http"

const problem = (status: number, tag: string, message: string) =>
  HttpServerResponse.unsafeJson({ _tag: tag, message }, { status })

/** The body could not be parsed: the API turns that into a defect before any handler runs. */
const isMalformedBody = (cause: Cause.Cause<unknown>) =>
  Chunk.some(Cause.defects(cause), (defect) =>
    HttpServerError.isServerError(defect) && defect._tag === "RequestError" && defect.reason === "Decode")

export const jsonErrors = HttpMiddleware.make((app) =>
  app.pipe(
    Effect.catchAllCause((cause) => {
      if (Cause.isInterruptedOnly(cause)) return Effect.failCause(cause)
      const failure = Cause.failureOption(cause)
      if (Option.isSome(failure)) {
        const error = failure.value
        return HttpServerError.isServerError(error) && error._tag === "RouteNotFound"
          ? Effect.succeed(problem(404, "RouteNotFound", `no route for ${error.request.method} ${error.request.url}`))
          : Effect.failCause(cause)
      }
      return isMalformedBody(cause)
        ? Effect.succeed(problem(400, "MalformedBody", "the request body is not valid JSON"))
        : Effect.as(
          Effect.logError("request failed", cause),
          problem(500, "InternalServerError", "the request failed unexpectedly")
        )
    })
  )
)

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
    const body = JSON.stringify({ _tag: "MalformedRequest", message: `the request is not valid HTTP (${error.code ?? error.message})` })
    socket.end(
      `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
        `connection: close\r\n\r\n${body}`
    )
  })
}
