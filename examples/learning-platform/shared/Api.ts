/**
 * What every service's HTTP API has besides its own group: `GET /health` and `GET /metrics`, the
 * admin API (`ADMIN_TOKEN`), and the order server's JSON errors (`{ "error", "message" }`: 400
 * naming the invalid fields, 503 while the database is unavailable).
 */
import { type HttpApi, type HttpApiGroup, OpenApi } from "@effect/platform"
import type { SqlError } from "@effect/sql/SqlError"
import { Effect } from "effect"
import { AdminApi } from "../../http-server/AdminApi.js"
import { ObservabilityApi, withoutPlatformDecodeError } from "../../http-server/Api.js"
import { Json, ServiceUnavailable } from "../../http-server/HttpErrors.js"

/** A service's API: its own group, then health, metrics and admin. */
export const make = <Id extends string, G extends HttpApiGroup.HttpApiGroup.Any, E>(
  api: HttpApi.HttpApi<Id, G, E>,
  title: string
) =>
  api
    .add(ObservabilityApi)
    .add(AdminApi)
    .addError(Json.InvalidRequest)
    .addError(Json.ServiceUnavailable)
    .annotate(OpenApi.Title, title)
    .annotate(OpenApi.Version, "1.0.0")
    .annotate(OpenApi.Transform, withoutPlatformDecodeError)

/** Report every invalid field, and refuse fields the contract does not know. */
export const strict = { parseOptions: { errors: "all", onExcessProperty: "error" } } as const

/** A read of a service's own tables that failed: the database is unavailable (503), try again later. */
export const readModel = <A, R>(effect: Effect.Effect<A, SqlError, R>): Effect.Effect<A, ServiceUnavailable, R> =>
  Effect.catchTag(
    effect,
    "SqlError",
    (error) =>
      Effect.zipRight(
        Effect.logWarning("a read of the database failed", error),
        Effect.fail(new ServiceUnavailable({ message: "the database is unavailable or busy; try again later" }))
      )
  )
