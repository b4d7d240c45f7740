/**
 * One service of the platform, as a process: its own database (a SQLite file `<service>.db` under
 * `DATA_DIR`, or PostgreSQL at `<SERVICE>_DATABASE_URL`), its tables, the broker at `NATS_URL`, the
 * relay running its publications, its integration consumers, and its HTTP API on `PORT` with
 * health, metrics, OpenAPI and admin endpoints. SIGINT or SIGTERM stop it gracefully.
 */
import { type HttpApi, HttpApiBuilder, type HttpApiGroup } from "@effect/platform"
import { NodeRuntime } from "@effect/platform-node"
import type { SqlClient } from "@effect/sql"
import { Config, Context, Effect, Layer } from "effect"
import {
  CommandHandler,
  type EventStore,
  Health,
  IntegrationConsumer,
  Relay,
  type Subscription,
  Telemetry
} from "effect-ddd"
import { NatsBroker } from "effect-ddd/nats"
import { OpenTelemetry } from "effect-ddd/opentelemetry"
import { AdminAuthLive, makeAdminLive } from "../../http-server/Admin.js"
import { makeAppLive, makeObservabilityLive, port, serve } from "../../http-server/Http.js"
import * as RelayDrain from "../../http-server/RelayDrain.js"
import { eventStoreLayer, sqlLayer } from "../../http-server/Sql.js"
import * as Tables from "./Tables.js"

/** What a service's handlers may use. */
export type Provided = CommandHandler.CommandHandler | SqlClient.SqlClient | EventStore.EventStore

/** One consequence of other services' events: the consumer that applies it, and the tables it owns. */
export interface Consequence {
  readonly consumer: IntegrationConsumer.Any
  readonly tables: Tables.Tables
}

export interface Options<Id extends string, R, E, RIn extends Provided> {
  /** `catalog`, `accounts`, `notifications` or `discovery`. */
  readonly name: Id
  readonly api: HttpApi.HttpApi<Id, any, any, any>
  /** The handlers of the service's own group. */
  readonly handlers: Layer.Layer<R, E, RIn>
  /** What the relay delivers: the service's publications. */
  readonly publications?: ReadonlyArray<Subscription.Any>
  /**
   * Its integration consumers, each with the tables it owns: a module exporting `consumer` and
   * `tables` is one (`import * as CourseAnnouncements from "./CourseAnnouncements.js"`).
   */
  readonly consumers?: ReadonlyArray<Consequence>
  /** Tables no single consumer owns (the mail outbox). */
  readonly tables?: ReadonlyArray<Tables.Tables>
}

/** The broker: NATS JetStream at `NATS_URL`, connected in the background (the service starts while it is down). */
export const BrokerLive = Layer.unwrapEffect(Effect.map(
  Config.string("NATS_URL").pipe(Config.withDefault("nats://127.0.0.1:4222")),
  (servers) => NatsBroker.layer({ servers, startup: "background" })
))

/** The whole service as a layer: launch it with `Layer.launch`. */
export const layer = <Id extends string, R, E, RIn extends Provided>(
  options: Options<Id, R, E, RIn>
): Layer.Layer<never, unknown> => {
  const publications = options.publications ?? []
  const consumers = (options.consumers ?? []).map((c) => c.consumer)
  const api = options.api
  const Database = eventStoreLayer(
    sqlLayer({ urlVariable: `${options.name.toUpperCase()}_DATABASE_URL`, filename: `${options.name}.db` })
  )
  const ApiLive = HttpApiBuilder.api(api as unknown as HttpApi.HttpApi<Id, HttpApiGroup.HttpApiGroup.Any>).pipe(
    Layer.provide([options.handlers, makeObservabilityLive(api), makeAdminLive(api, publications)]),
    Layer.provide(AdminAuthLive)
  )
  const Delivery = Layer.mergeAll(
    RelayDrain.layer(publications).pipe(Layer.provideMerge(Relay.layer({ subscriptions: publications }))),
    IntegrationConsumer.layer(consumers),
    Health.layer({ subscriptions: publications, consumers })
  ).pipe(
    Layer.tap((context) =>
      Effect.log(
        `${options.name}: relay ${Context.get(context, Relay.Relay).owner} publishing ${
          publications.map((s) => s.name).join(", ") || "nothing"
        }; consuming ${consumers.map((c) => c.name).join(", ") || "nothing"}`
      )
    )
  )
  // the handlers' requirements (`Provided`) are all met below; the API's group types are not
  // tracked through the generic `api`, hence the cast
  return serve(makeAppLive(api, ApiLive), port("PORT", 3100)).pipe(
    Layer.provide(Delivery),
    Layer.provide(CommandHandler.layer()),
    Layer.provide(BrokerLive),
    Layer.provide(Tables.layer([...(options.tables ?? []), ...(options.consumers ?? []).map((c) => c.tables)])),
    Layer.provideMerge(Database),
    Layer.provide(Layer.mergeAll(OpenTelemetry.layer({ serviceName: options.name }), Telemetry.logger))
  ) as unknown as Layer.Layer<never, unknown>
}

/**
 * Run the service until SIGINT or SIGTERM. A repeated signal (a terminal's Ctrl-C reaches the
 * whole process group, and the platform's command forwards it too) does not cut the graceful stop
 * short: the first starts it, later ones are ignored.
 */
export const run = <Id extends string, R, E, RIn extends Provided>(options: Options<Id, R, E, RIn>): void => {
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => {})
  layer(options).pipe(Layer.launch, NodeRuntime.runMain)
}
