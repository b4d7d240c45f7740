/**
 * The errors of HTTP itself, beside the domain's: a request that does not match the contract, a
 * body that is not JSON or too large, an unknown route or method, a missing credential, an
 * unavailable database, a failure nobody expected. Each has its status and the JSON body of
 * `ErrorBody`.
 */
import type { HttpApiError } from "@effect/platform"
import { Schema } from "effect"
import * as ErrorBody from "./ErrorBody.js"

/** One problem of a request: which field (`body` for the whole body), and what is wrong with it. */
export const Issue = Schema.Struct({ field: Schema.String, message: Schema.String })

/** The request does not match the contract; `message` lists every problem. */
export class InvalidRequest extends Schema.TaggedError<InvalidRequest>()("InvalidRequest", {
  message: Schema.String,
  issues: Schema.Array(Issue)
}) {
  /** From the API's decoding error: every issue, named by the path of its field. */
  static fromDecodeError(error: HttpApiError.HttpApiDecodeError): InvalidRequest {
    const issues = error.issues.map((issue) => ({ field: fieldName(issue.path), message: issue.message }))
    return new InvalidRequest({ message: issues.map((i) => `${i.field}: ${i.message}`).join("; "), issues })
  }
}

/** `["lines", 0, "quantity"]` -> `lines[0].quantity`; the empty path is the whole body. */
const fieldName = (path: ReadonlyArray<PropertyKey>) =>
  path.length === 0
    ? "body"
    : path.map((key, i) => (typeof key === "number" ? `[${key}]` : i === 0 ? String(key) : `.${String(key)}`)).join("")

/** The body is empty or not JSON. */
export class MalformedBody extends Schema.TaggedError<MalformedBody>()("MalformedBody", { message: Schema.String }) {}

export class PayloadTooLarge extends Schema.TaggedError<PayloadTooLarge>()("PayloadTooLarge", { limit: Schema.Int }) {
  override get message() {
    return `the request body is larger than ${this.limit} bytes`
  }
}

export class UnsupportedMediaType extends Schema.TaggedError<UnsupportedMediaType>()("UnsupportedMediaType", {
  contentType: Schema.optionalWith(Schema.String, { exact: true })
}) {
  override get message() {
    return `the request body must be JSON (Content-Type: application/json), not ${
      this.contentType === undefined ? "a body without a Content-Type" : this.contentType
    }`
  }
}

export class RouteNotFound extends Schema.TaggedError<RouteNotFound>()("RouteNotFound", {
  method: Schema.String,
  path: Schema.String
}) {
  override get message() {
    return `no route for ${this.method} ${this.path}`
  }
}

export class MethodNotAllowed extends Schema.TaggedError<MethodNotAllowed>()("MethodNotAllowed", {
  method: Schema.String,
  path: Schema.String,
  allowed: Schema.Array(Schema.String)
}) {
  override get message() {
    return `${this.method} is not allowed on ${this.path}; allowed: ${this.allowed.join(", ")}`
  }
}

/** The credential is missing or wrong. */
export class Unauthorized extends Schema.TaggedError<Unauthorized>()("Unauthorized", { message: Schema.String }) {}

/** No credential can open this endpoint. */
export class Forbidden extends Schema.TaggedError<Forbidden>()("Forbidden", { message: Schema.String }) {}

/** The database cannot be reached (or is too busy) right now: try again later. */
export class ServiceUnavailable extends Schema.TaggedError<ServiceUnavailable>()("ServiceUnavailable", {
  message: Schema.String
}) {}

/** A failure nobody expected: it is logged, and the request may be repeated. */
export class InternalServerError extends Schema.TaggedError<InternalServerError>()("InternalServerError", {}) {
  override get message() {
    return "the request failed unexpectedly"
  }
}

/** What Node's HTTP parser refuses: not HTTP, headers too large, a request too slow to arrive. */
export class MalformedRequest
  extends Schema.TaggedError<MalformedRequest>()("MalformedRequest", { code: Schema.String })
{
  override get message() {
    return `the request is not valid HTTP (${this.code})`
  }
}

/** The JSON bodies, with their statuses. */
export const Json = {
  InvalidRequest: ErrorBody.schema(InvalidRequest, 400, "The request does not match the contract"),
  MalformedBody: ErrorBody.schema(MalformedBody, 400, "The request body is empty or not JSON"),
  PayloadTooLarge: ErrorBody.schema(PayloadTooLarge, 413, "The request body is larger than 1 MiB"),
  UnsupportedMediaType: ErrorBody.schema(UnsupportedMediaType, 415, "The request body is not declared JSON"),
  RouteNotFound: ErrorBody.schema(RouteNotFound, 404),
  MethodNotAllowed: ErrorBody.schema(MethodNotAllowed, 405),
  Unauthorized: ErrorBody.schema(Unauthorized, 401, "The admin token is missing or wrong"),
  Forbidden: ErrorBody.schema(Forbidden, 403, "The admin API is disabled"),
  ServiceUnavailable: ErrorBody.schema(ServiceUnavailable, 503, "The database is unavailable or busy"),
  InternalServerError: ErrorBody.schema(InternalServerError, 500),
  MalformedRequest: ErrorBody.schema(MalformedRequest, 400)
}
