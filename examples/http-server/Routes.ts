/**
 * The server's routes, read from the API definition (and the documentation pages beside it):
 * an unknown path is a 404, a known path with another method a 405 with an `Allow` header, a raw
 * backslash or semicolon in the path a 400, a HEAD
 * is served as the GET it stands for (without its body), and an endpoint that takes a JSON body
 * gets its body checked by `RequestBody` first. A body sent anywhere else is dropped before the
 * answer (`RequestBody.afterDraining`).
 */
import { HttpApi, type HttpApp, HttpMethod, HttpServerRequest } from "@effect/platform"
import { Effect, Option } from "effect"
import * as ErrorBody from "./ErrorBody.js"
import { InvalidRequest, Json, MethodNotAllowed, RouteNotFound } from "./HttpErrors.js"
import * as RequestBody from "./RequestBody.js"

export interface Route {
  readonly method: string
  /** As in the API: `/orders/:orderId/cancel`. */
  readonly path: string
  /** Whether the endpoint reads a JSON body. */
  readonly json: boolean
  readonly pattern: RegExp
}

const make = (method: string, path: string, json: boolean): Route => ({
  method,
  path,
  json,
  pattern: new RegExp(
    `^${
      path.split("/").map((segment) =>
        segment.startsWith(":") ? "[^/]+" : segment.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
      ).join("/")
    }$`
  )
})

/** The API's endpoints, and `pages` (paths answering GET, such as the documentation). */
export const fromApi = (api: HttpApi.HttpApi.Any, pages: ReadonlyArray<string> = []): ReadonlyArray<Route> => {
  const routes: Array<Route> = []
  HttpApi.reflect(api as HttpApi.HttpApi.AnyWithProps, {
    onGroup: () => {},
    onEndpoint: ({ endpoint }) => {
      const json = Option.isSome(endpoint.payloadSchema) && HttpMethod.hasBody(endpoint.method)
      routes.push(make(endpoint.method, endpoint.path, json))
    }
  })
  return [...routes, ...pages.map((path) => make("GET", path, false))]
}

export type Match =
  | { readonly _tag: "Found"; readonly route: Route }
  | { readonly _tag: "MethodNotAllowed"; readonly allowed: ReadonlyArray<string> }
  | { readonly _tag: "NotFound" }

/** The route of a request; HEAD matches the GET routes. */
export const match = (routes: ReadonlyArray<Route>, method: string, pathname: string): Match => {
  const onPath = routes.filter((route) => route.pattern.test(pathname))
  if (onPath.length === 0) return { _tag: "NotFound" }
  const wanted = method === "HEAD" ? "GET" : method
  const route = onPath.find((route) => route.method === wanted)
  if (route !== undefined) return { _tag: "Found", route }
  const methods = new Set(onPath.map((route) => route.method))
  if (methods.has("GET")) methods.add("HEAD")
  return { _tag: "MethodNotAllowed", allowed: Array.from(methods).sort() }
}

/** The path of a request's URL as the router reads it: without the query. */
export const pathOf = (url: string): string => {
  const end = url.search(/[?#]/)
  return end === -1 ? url : url.slice(0, end)
}

/** The request as a GET: the router finds the GET route, and Node leaves the body out of the answer. */
const asGet = (request: HttpServerRequest.HttpServerRequest): HttpServerRequest.HttpServerRequest =>
  Object.create(request, { method: { value: "GET" } })

export const middleware = (routes: ReadonlyArray<Route>) => (app: HttpApp.Default): HttpApp.Default =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const path = pathOf(request.url)
    // the router would read another path than the one matched here (and run another endpoint):
    // the URL parser reads a raw backslash as a slash, and the router ends the path at a `;`
    const raw = /[\\;]/.exec(path)?.[0]
    if (raw !== undefined) {
      const issue = {
        field: "path",
        message: raw === ";" ? "a semicolon must be percent-encoded (%3B)" : "a backslash must be percent-encoded (%5C)"
      }
      return yield* RequestBody.afterDraining(
        request,
        ErrorBody.respond(
          Json.InvalidRequest,
          new InvalidRequest({ message: `path: ${issue.message}`, issues: [issue] })
        )
      )
    }
    const found = match(routes, request.method, path)
    switch (found._tag) {
      case "NotFound":
        return yield* RequestBody.afterDraining(
          request,
          ErrorBody.respond(Json.RouteNotFound, new RouteNotFound({ method: request.method, path }))
        )
      case "MethodNotAllowed":
        return yield* RequestBody.afterDraining(
          request,
          ErrorBody.respond(
            Json.MethodNotAllowed,
            new MethodNotAllowed({ method: request.method, path, allowed: found.allowed }),
            { allow: found.allowed.join(", ") }
          )
        )
      case "Found": {
        const served = request.method === "HEAD" ? asGet(request) : request
        const handled = found.route.json ? RequestBody.json(app) : RequestBody.afterDraining(request, app)
        return yield* Effect.provideService(handled, HttpServerRequest.HttpServerRequest, served)
      }
    }
  })
