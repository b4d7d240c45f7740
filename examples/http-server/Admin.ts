/**
 * The admin API's handlers, over the relay and the delivery stores, and its token check: `ADMIN_TOKEN`
 * from the environment, compared in constant time; without it the admin API answers 403.
 */
import { type HttpApi, HttpApiBuilder } from "@effect/platform"
import { Clock, Config, Effect, Layer, Option, Redacted } from "effect"
import { Checkpoints, DeadLetters, EventStore, Relay, Subscription } from "effect-ddd"
import { createHash, timingSafeEqual } from "node:crypto"
import type { AdminApi } from "./AdminApi.js"
import { AdminAuth, type DeadLetterView, type SubscriptionView } from "./AdminApi.js"
import { Api } from "./Api.js"
import { delivered } from "./Fulfilment.js"
import { Forbidden, type ServiceUnavailable, Unauthorized } from "./HttpErrors.js"
import * as Infrastructure from "./Infrastructure.js"

const digest = (token: string) => createHash("sha256").update(token).digest()

export const AdminAuthLive = Layer.effect(
  AdminAuth,
  Effect.map(Config.option(Config.redacted("ADMIN_TOKEN")), (configured) => {
    const expected = configured.pipe(
      Option.map(Redacted.value),
      Option.filter((token) => token !== ""),
      Option.map(digest)
    )
    return {
      adminToken: (given) =>
        Option.isNone(expected)
          ? Effect.fail(
            new Forbidden({ message: "the admin API is disabled: the server was started without ADMIN_TOKEN" })
          )
          : Redacted.value(given) === ""
          ? Effect.fail(
            new Unauthorized({ message: "the admin API needs the header Authorization: Bearer <ADMIN_TOKEN>" })
          )
          : timingSafeEqual(digest(Redacted.value(given)), expected.value)
          ? Effect.void
          : Effect.fail(new Unauthorized({ message: "the admin token is wrong" }))
    }
  })
)

const deadLetterView = (letter: DeadLetters.DeadLetter): DeadLetterView => ({
  id: letter.id,
  subscription: letter.subscription,
  partition: letter.partition,
  kind: letter.kind,
  status: letter.status,
  eventId: letter.eventId,
  eventType: letter.eventType,
  aggregateType: letter.aggregateType,
  aggregateId: letter.aggregateId,
  version: letter.version,
  position: letter.position,
  error: letter.error,
  attempts: letter.attempts,
  firstFailedAt: new Date(letter.firstFailedAt),
  lastFailedAt: new Date(letter.lastFailedAt)
})

/** How long a redrive may take before the answer says it goes on in the background. */
const redriveTimeout = "10 seconds"

/**
 * The admin group's handlers for any API that adds `AdminApi` (and answers `ServiceUnavailable`),
 * over the subscriptions its relay delivers.
 */
export const makeAdminLive = <Id extends string>(
  api: HttpApi.HttpApi<Id, any, any, any>,
  delivered: ReadonlyArray<Subscription.Any>
) =>
  HttpApiBuilder.group(
    api as unknown as HttpApi.HttpApi<Id, typeof AdminApi, ServiceUnavailable>,
    "admin",
    (handlers) =>
      Effect.gen(function*() {
        const relay = yield* Relay.Relay
        const checkpoints = yield* Checkpoints.Checkpoints
        const deadLetters = yield* DeadLetters.DeadLetters

        const store = yield* EventStore.EventStore

        const subscription = (delivered: Subscription.Any, now: number) =>
          Effect.gen(function*() {
            const { name } = delivered
            const leases = new Map(
              (yield* checkpoints.leases(name)).filter((lease) => lease.expiresAt > now).map((
                lease
              ) => [lease.partition, lease])
            )
            const views = yield* Effect.forEach(
              Array.from({ length: delivered.partitions }, (_, i) => i),
              (partition) =>
                Effect.gen(function*() {
                  const checkpoint = yield* checkpoints.get(name, partition)
                  const backlog = yield* store.backlog(checkpoint, Subscription.logFilter(delivered, partition))
                  const lease = leases.get(partition)
                  return {
                    partition,
                    checkpoint: { commitOrder: checkpoint.commitOrder, position: checkpoint.position },
                    lag: backlog.count,
                    owner: lease?.owner ?? null,
                    leaseExpiresAt: lease === undefined ? null : new Date(lease.expiresAt)
                  }
                })
            )
            const letters = yield* deadLetters.list({ subscription: name })
            return {
              name,
              lag: views.reduce((sum, view) => sum + view.lag, 0),
              owners: Array.from(new Set(views.flatMap((view) => (view.owner === null ? [] : [view.owner])))).sort(),
              deadLetters: letters.length,
              partitions: views
            } satisfies SubscriptionView
          })

        return handlers
          .handle("subscriptions", () =>
            Effect.gen(function*() {
              const now = yield* Clock.currentTimeMillis
              const subscriptions = yield* Effect.forEach(delivered, (s) => subscription(s, now))
              return { subscriptions }
            }).pipe(Infrastructure.handle))
          .handle("deadLetters", ({ urlParams }) =>
            relay.deadLetters(urlParams).pipe(
              Effect.map((letters) => ({ deadLetters: letters.map(deadLetterView) })),
              Infrastructure.handle
            ))
          .handle("redrive", ({ path }) =>
            relay.redrive(path.id, { timeout: redriveTimeout }).pipe(
              Effect.map(({ remaining }) => ({
                id: path.id,
                outcome: remaining.length === 0 ? "delivered" as const : "failed" as const,
                deadLetters: remaining.map(deadLetterView)
              })),
              Infrastructure.handle
            ))
          .handle("discard", ({ path }) => relay.discard(path.id).pipe(Infrastructure.handle))
      })
  )

export const AdminLive = makeAdminLive(Api, delivered)
