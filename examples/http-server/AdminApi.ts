/**
 * The admin API, open only with `Authorization: Bearer <ADMIN_TOKEN>`: how far each subscription
 * has delivered the log (checkpoint and lag per partition) and which processes deliver it, the
 * dead letters, and redriving or discarding them.
 */
import {
  HttpApiEndpoint,
  HttpApiGroup,
  HttpApiMiddleware,
  HttpApiSchema,
  HttpApiSecurity,
  OpenApi
} from "@effect/platform"
import { Schema } from "effect"
import { DeadLetters, Relay } from "effect-ddd"
import * as ErrorBody from "./ErrorBody.js"
import { Json } from "./HttpErrors.js"

/** Checks the admin token: 401 when it is missing or wrong, 403 when the server has none. */
export class AdminAuth extends HttpApiMiddleware.Tag<AdminAuth>()("AdminAuth", {
  failure: Schema.Union(Json.Unauthorized, Json.Forbidden),
  security: { adminToken: HttpApiSecurity.bearer }
}) {}

/** A place in the log: what a subscription's partition has delivered up to. */
export const Cursor = Schema.Struct({ commitOrder: Schema.Int, position: Schema.Int })

export const PartitionView = Schema.Struct({
  partition: Schema.Int,
  checkpoint: Cursor,
  /** Events committed after the checkpoint: not yet delivered. */
  lag: Schema.Int,
  /** The process delivering it (`null` while no process holds its lease). */
  owner: Schema.NullOr(Schema.String),
  leaseExpiresAt: Schema.NullOr(Schema.Date)
})

export const SubscriptionView = Schema.Struct({
  name: Schema.String,
  /** Events committed but not yet delivered, over every partition. */
  lag: Schema.Int,
  /** The processes delivering its partitions now. */
  owners: Schema.Array(Schema.String),
  deadLetters: Schema.Int,
  partitions: Schema.Array(PartitionView)
})
export type SubscriptionView = typeof SubscriptionView.Type

export const DeadLetterView = Schema.Struct({
  id: Schema.String,
  subscription: Schema.String,
  partition: Schema.Int,
  kind: Schema.Literal("failed", "poison", "parked"),
  status: Schema.Literal("open", "redrive"),
  eventId: Schema.String,
  eventType: Schema.String,
  aggregateType: Schema.String,
  aggregateId: Schema.String,
  version: Schema.Int,
  position: Schema.Int,
  error: Schema.String,
  attempts: Schema.Int,
  firstFailedAt: Schema.Date,
  lastFailedAt: Schema.Date
})
export type DeadLetterView = typeof DeadLetterView.Type

export const DeadLetterQuery = Schema.Struct({
  subscription: Schema.optionalWith(Schema.String, { exact: true }),
  aggregateType: Schema.optionalWith(Schema.String, { exact: true }),
  aggregateId: Schema.optionalWith(Schema.String, { exact: true })
})

export const Redriven = Schema.Struct({
  id: Schema.String,
  /** `delivered`: the aggregate's dead letters were all delivered; `failed`: one failed again. */
  outcome: Schema.Literal("delivered", "failed"),
  /** The aggregate's dead letters left for this subscription. */
  deadLetters: Schema.Array(DeadLetterView)
})

const deadLetterNotFound = ErrorBody.schema(DeadLetters.DeadLetterNotFound, 404, "No such dead letter")

const deadLetterId = HttpApiSchema.param("id", Schema.String.pipe(Schema.minLength(1), Schema.maxLength(255)))

export class AdminApi extends HttpApiGroup.make("admin")
  .add(
    HttpApiEndpoint.get("subscriptions", "/admin/subscriptions")
      .addSuccess(Schema.Struct({ subscriptions: Schema.Array(SubscriptionView) }))
  )
  .add(
    HttpApiEndpoint.get("deadLetters", "/admin/dead-letters")
      .setUrlParams(DeadLetterQuery)
      .addSuccess(Schema.Struct({ deadLetters: Schema.Array(DeadLetterView) }))
  )
  .add(
    HttpApiEndpoint.post("redrive")`/admin/dead-letters/${deadLetterId}/redrive`
      .addSuccess(Redriven)
      .addError(deadLetterNotFound)
      .addError(ErrorBody.schema(Relay.RedriveTimeout, 504, "The redrive goes on, but did not finish in time"))
  )
  .add(
    HttpApiEndpoint.del("discard")`/admin/dead-letters/${deadLetterId}`
      .addSuccess(HttpApiSchema.NoContent)
      .addError(deadLetterNotFound)
  )
  .middleware(AdminAuth)
  .annotate(OpenApi.Description, "Operations: subscriptions and dead letters (Authorization: Bearer <ADMIN_TOKEN>)")
{}
