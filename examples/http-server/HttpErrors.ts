/**
 * Every error answer is JSON: requests the API never sees (an unknown route, a body that is not
 * valid JSON) and failures nobody expected get a JSON body with a `_tag` and a `message`. The
 * API's declared errors pass through, to be encoded with their status.
 */
import { HttpMiddleware, HttpServerError, HttpServerResponse } from "@effect/platform"
import { Cause, Chunk, Effect, Option } from "effect"

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
