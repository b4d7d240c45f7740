/**
 * The HTTP server: the handlers of `Api` over the command handler, served on `PORT` (default
 * 3000). Closing the layer stops accepting connections and lets the requests in flight finish.
 */
import { type HttpApi, HttpApiBuilder, HttpApiSwagger, HttpMiddleware, HttpServer } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { Clock, Config, Duration, Effect, Layer } from "effect"
import { CommandHandler, Health, IdGenerator } from "effect-ddd"
import { OpenTelemetry } from "effect-ddd/opentelemetry"
import { createHash } from "node:crypto"
import { createServer, type Server } from "node:http"
import { AdminAuthLive, AdminLive } from "./Admin.js"
import type { ObservabilityApi } from "./Api.js"
import { Api, OrderNotFound, PlaceOrder, SkuNotFound, type Stock, Unhealthy } from "./Api.js"
import { Inventory, type InventoryState } from "./Domain/Inventory.js"
import { Order, OrderId } from "./Domain/Order.js"
import * as Infrastructure from "./Infrastructure.js"
import * as JsonErrors from "./JsonErrors.js"
import * as Routes from "./Routes.js"
import * as StatusPage from "./StatusPage.js"

/** An error the command cannot raise here (restock expects any aggregate; no key, no reuse). */
const impossible = (error: unknown) => Effect.die(error)

const stockOf = (state: InventoryState): Stock => ({
  sku: state.sku,
  available: state.available,
  reserved: state.reserved,
  sold: state.sold
})

/** Requests with the same idempotency key are the same when their decoded bodies are equal. */
const fingerprintOf = (body: PlaceOrder) =>
  createHash("sha256").update(JSON.stringify(PlaceOrder.make(body))).digest("hex")

const InventoryLive = HttpApiBuilder.group(Api, "inventory", (handlers) =>
  handlers
    .handle("restock", ({ path, payload }) =>
      CommandHandler.execute(Inventory, path.sku, "restock", payload).pipe(
        Effect.map((result) => stockOf(result.state)),
        Effect.catchTags({ AggregateNotFound: impossible, IdempotencyKeyReused: impossible }),
        Infrastructure.handle
      ))
    .handle("get", ({ path }) =>
      CommandHandler.load(Inventory, path.sku).pipe(
        Effect.filterOrFail((stock) => stock.version > 0, () => new SkuNotFound({ sku: path.sku })),
        Effect.map((stock) => stockOf(stock.state)),
        Infrastructure.handle
      )))

const OrdersLive = HttpApiBuilder.group(Api, "orders", (handlers) =>
  handlers
    .handle("place", ({ headers, payload }) =>
      Effect.gen(function*() {
        const orderId = OrderId.make(yield* IdGenerator.next)
        const key = headers["idempotency-key"]
        const result = yield* CommandHandler.execute(
          Order,
          orderId,
          "place",
          payload,
          key === undefined ? {} : { idempotencyKey: `orders:${key}`, fingerprint: fingerprintOf(payload) }
        )
        return { orderId: result.aggregateId, status: "pending" as const }
      }).pipe(
        Effect.catchTags({
          AggregateNotFound: impossible,
          // the client's key, without the prefix
          IdempotencyKeyReused: () =>
            Effect.fail(new CommandHandler.IdempotencyKeyReused({ key: headers["idempotency-key"] ?? "" }))
        }),
        Infrastructure.handle
      ))
    .handle("get", ({ path }) =>
      CommandHandler.load(Order, path.orderId).pipe(
        Effect.filterOrFail(
          (order) => order.version > 0 && order.state.status !== "new",
          () => new OrderNotFound({ orderId: path.orderId })
        ),
        Effect.map(({ state }) => ({
          orderId: state.orderId,
          customerId: state.customerId,
          lines: state.lines,
          status: state.status as Exclude<typeof state.status, "new">,
          ...(state.reason === undefined ? {} : { reason: state.reason })
        })),
        Infrastructure.handle
      ))
    .handle("cancel", ({ path }) =>
      CommandHandler.execute(Order, path.orderId, "cancel", {}).pipe(
        Effect.as({ orderId: path.orderId, status: "cancelled" as const }),
        Effect.catchTags({
          AggregateNotFound: () => Effect.fail(new OrderNotFound({ orderId: path.orderId })),
          IdempotencyKeyReused: impossible
        }),
        Infrastructure.handle
      )))

/** Every reason of a health report, prefixed by its subscription (or integration consumer). */
const reasonsOf = (report: Health.Report) =>
  [...report.subscriptions, ...(report.consumers ?? [])].flatMap((s) =>
    s.reasons.map((reason) => `${s.subscription}: ${reason}`)
  )

/** `GET /health` and `GET /metrics` for any API that adds `ObservabilityApi`. */
export const makeObservabilityLive = <Id extends string>(api: HttpApi.HttpApi<Id, any, any, any>) =>
  HttpApiBuilder.group(
    api as unknown as HttpApi.HttpApi<Id, typeof ObservabilityApi>,
    "observability",
    (handlers) =>
      handlers
        .handle("health", () =>
          Health.check.pipe(
            Effect.flatMap((report) =>
              report.status === "unhealthy"
                ? Effect.fail(new Unhealthy({ ...report, status: "unhealthy", reasons: reasonsOf(report) }))
                : Effect.succeed({ ...report, status: report.status, reasons: reasonsOf(report) })
            ),
            // health is not measured without the database: that is a reason of its own
            Effect.catchTag("EventStoreError", (error) =>
              Effect.flatMap(Clock.currentTimeMillis, (checkedAt) =>
                Effect.fail(
                  new Unhealthy({
                    status: "unhealthy",
                    checkedAt,
                    reasons: [`the database cannot be reached: ${error.message}`],
                    subscriptions: []
                  })
                )))
          ))
        .handle("metrics", () => OpenTelemetry.scrape)
  )

const ObservabilityLive = makeObservabilityLive(Api)

export const ApiLive = HttpApiBuilder.api(Api).pipe(
  Layer.provide([InventoryLive, OrdersLive, ObservabilityLive, AdminLive]),
  Layer.provide(AdminAuthLive)
)

/** Where the OpenAPI document and its Swagger UI are served. */
export const docs = { openApi: "/openapi.json", ui: "/docs" } as const

/**
 * An API's handlers (`apiLive`) with routing (404, 405, HEAD), JSON bodies (413, 415), JSON
 * errors, `/openapi.json` and `/docs`, and the `pages` served beside them: all but the socket.
 */
export const makeAppLive = <Id extends string, R, E, RIn>(
  api: HttpApi.HttpApi<Id, any, any, any>,
  apiLive: Layer.Layer<R, E, RIn>,
  pages: { readonly paths: ReadonlyArray<string>; readonly layer: Layer.Layer<never> } = {
    paths: [],
    layer: Layer.empty
  }
) => {
  const routes = Routes.fromApi(api, [docs.openApi, docs.ui, ...pages.paths])
  const guard = HttpApiBuilder.middleware((app) =>
    JsonErrors.middleware(JsonErrors.requireHost(Routes.middleware(routes)(app)))
  )
  return Layer.mergeAll(
    guard,
    HttpApiSwagger.layer({ path: docs.ui }),
    pages.layer,
    HttpApiBuilder.middlewareOpenApi({ path: docs.openApi })
  ).pipe(Layer.provideMerge(apiLive))
}

/** The API with its routing, body and error handling, its documentation and the status page: all but the socket. */
export const AppLive = makeAppLive(Api, ApiLive, { paths: [StatusPage.path], layer: StatusPage.layer })

/** A port from the environment variable `name` (`PORT`), or `fallback`. */
export const port = (name: string, fallback: number) =>
  Config.integer(name).pipe(
    Config.validate({
      message: `${name} must be between 0 and 65535`,
      validation: (port) => port >= 0 && port <= 65535
    }),
    Config.withDefault(fallback)
  )

/** How long requests in flight may take to finish once shutdown has begun. */
export const shutdownGrace = Duration.seconds(3)

/**
 * Closing the server first: it stops accepting connections, answers the requests in flight (and
 * those arriving on open keep-alive connections), and cuts the connections still busy after
 * `shutdownGrace`. Idle keep-alive connections close within a second.
 */
const closeGracefully = (server: Server) =>
  Layer.scopedDiscard(Effect.addFinalizer(() =>
    Effect.gen(function*() {
      yield* Effect.log("http: stopped accepting connections; finishing the requests in flight")
      const cut = setTimeout(() => server.closeAllConnections(), Duration.toMillis(shutdownGrace))
      yield* Effect.async<void>((resume) => void server.close(() => resume(Effect.void)))
      clearTimeout(cut)
      yield* Effect.log("http: closed")
    })
  ))

/** An app (`makeAppLive`) served on the port `listen` reads. */
export const serve = <E, RIn>(
  appLive: Layer.Layer<any, E, RIn>,
  listen: Config.Config<number>
) =>
  Layer.unwrapEffect(Effect.map(listen, (port) => {
    // a request without a Host header is answered by `JsonErrors.requireHost`, with a JSON body
    const server = Object.assign(createServer({ requireHostHeader: false }), { keepAliveTimeout: 1000 })
    JsonErrors.answerClientErrors(server)
    return closeGracefully(server).pipe(
      Layer.provideMerge(HttpApiBuilder.serve(HttpMiddleware.logger)),
      Layer.provide(appLive),
      HttpServer.withLogAddress,
      Layer.provide(NodeHttpServer.layer(() => server, { port }))
    )
  }))

/** The API served on `PORT` (default 3000). */
export const HttpLive = serve(AppLive, port("PORT", 3000))
