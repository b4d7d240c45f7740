/**
 * The example HTTP server (`examples/http-server/main.ts`, run as `npm start` runs it), on SQLite
 * and on PostgreSQL.
 *
 * - `http.settle.*`: light load: one order at a time, from `POST /orders` until a
 *   `GET /orders/{id}` shows it settled (confirmed), polling back to back. The baseline is the
 *   floor of that measurement in the same run, on the same server: the `POST` and the first `GET`
 *   alone.
 * - `http.load.*`: `LOAD_CONNECTIONS` (16) keep-alive connections of autocannon posting orders
 *   (`POST /orders`, one line of one of 100 restocked SKUs in turn; a 202 is success) for `BENCH_SECONDS` (3), after
 *   a one-second warm-up: orders/s, and the p50 and p99 of the response times. Any answer other
 *   than a 2xx, or any connection error, fails the figure. The baseline is the same application
 *   without HTTP in the same run: the server's layers (command handler, fulfilment relay,
 *   telemetry, event store on a fresh database of the same kind) in this process, with
 *   `LOAD_CONNECTIONS` fibers executing the same `place` command one after another, each going
 *   back to the event loop between commands as a response does (without that, SQLite's synchronous
 *   driver would starve the relay, and the baseline would skip the fulfilment the server does); its
 *   p50 and p99 are those of `CommandHandler.execute`. The median of `BENCH_ROUNDS` (3) rounds of each,
 *   alternating. Both include the fulfilment the relay runs behind the orders; the HTTP side also
 *   pays for the load generator, which shares the machine.
 */
import autocannon from "autocannon"
import { ConfigProvider, Effect, Layer, Logger, LogLevel } from "effect"
import { CommandHandler } from "effect-ddd"
import { randomUUID } from "node:crypto"
import { rmSync } from "node:fs"
import { Inventory } from "../examples/http-server/Domain/Inventory.js"
import { Order, OrderId, Sku } from "../examples/http-server/Domain/Order.js"
import { FulfilmentLive } from "../examples/http-server/Fulfilment.js"
import { TelemetryLive } from "../examples/http-server/Observability.js"
import { EventStoreLive } from "../examples/http-server/Sql.js"
import { request, startServer, tempDataDir } from "../test/support/server.js"
import { type Figure, figure } from "./report.js"

const ORDERS = 200
const WARMUP = 20

const percentile = (samples: ReadonlyArray<number>, p: number) => {
  const sorted = [...samples].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
}

/** Settle times and floors (ms) of `ORDERS` orders placed one after another. */
const measure = async (env: { readonly DATA_DIR?: string; readonly DATABASE_URL?: string }) => {
  const server = await startServer(env)
  try {
    const sku = `bench-${randomUUID().slice(0, 8)}`
    await request(server, "POST", `/inventory/${sku}/restock`, { quantity: 1_000_000 })
    const settle: Array<number> = []
    const floor: Array<number> = []
    for (let i = 0; i < WARMUP + ORDERS; i++) {
      const start = performance.now()
      const placed = await request(server, "POST", "/orders", { customerId: "bench", lines: [{ sku, quantity: 1 }] })
      if (placed.status !== 202) throw new Error(`POST /orders: ${placed.status} ${JSON.stringify(placed.body)}`)
      let first: number | undefined
      while (true) {
        const order = await request(server, "GET", `/orders/${placed.body.orderId}`)
        first ??= performance.now() - start
        if (order.body.status === "confirmed") break
        if (order.body.status !== "pending") throw new Error(`order ${placed.body.orderId}: ${order.body.status}`)
      }
      if (i >= WARMUP) {
        settle.push(performance.now() - start)
        floor.push(first)
      }
    }
    return { settle, floor }
  } finally {
    await server.stop()
  }
}

const figures = (
  name: string,
  { floor, settle }: { readonly settle: Array<number>; readonly floor: Array<number> }
) => {
  console.error(
    `  ${name}: settled p50 ${percentile(settle, 50).toFixed(2)} p99 ${percentile(settle, 99).toFixed(2)} ms; ` +
      `POST + first GET p50 ${percentile(floor, 50).toFixed(2)} p99 ${percentile(floor, 99).toFixed(2)} ms`
  )
  return [
    figure(`${name}.p50`, percentile(settle, 50), "ms", percentile(floor, 50), "< 1000 ms"),
    figure(`${name}.p99`, percentile(settle, 99), "ms", percentile(floor, 99), "< 1000 ms")
  ]
}

/** `http.settle.sqlite.*` */
export const runSqlite = async (): Promise<ReadonlyArray<Figure>> => {
  const dataDir = tempDataDir()
  try {
    return figures("http.settle.sqlite", await measure({ DATA_DIR: dataDir }))
  } finally {
    rmSync(dataDir, { recursive: true, force: true })
  }
}

/** `http.settle.pg.*` */
export const runPg = (freshDatabase: () => Promise<string>) => async (): Promise<ReadonlyArray<Figure>> =>
  figures("http.settle.pg", await measure({ DATABASE_URL: await freshDatabase() }))

// --- http.load.* --------------------------------------------------------------------------------------

const LOAD_CONNECTIONS = 16
const SECONDS = Number(process.env["BENCH_SECONDS"] ?? 3)
const ROUNDS = Number(process.env["BENCH_ROUNDS"] ?? 3)
const STOCK = 1_000_000
/**
 * Orders go to these SKUs in turn: the fulfilment reserves stock on the order's SKU, and one SKU
 * for every order would make its aggregate (its reservations) the bottleneck of both sides.
 */
const LOAD_SKUS = 100

const skusOf = (run: string) => Array.from({ length: LOAD_SKUS }, (_, i) => Sku.make(`bench-${run}-${i}`))

interface Load {
  /** Orders accepted per second. */
  readonly rate: number
  readonly p50: number
  readonly p99: number
}

const median = (values: ReadonlyArray<number>) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!

const orderBody = (sku: Sku) => ({ customerId: "bench", lines: [{ sku, quantity: 1 }] })

/** autocannon's `POST /orders` for `seconds`, over `skus` in turn; throws on any answer other than a 2xx. */
const cannon = async (url: string, skus: ReadonlyArray<Sku>, seconds: number): Promise<Load> => {
  const bodies = skus.map((sku) => JSON.stringify(orderBody(sku)))
  let next = 0
  const result = await autocannon({
    url: `${url}/orders`,
    method: "POST",
    connections: LOAD_CONNECTIONS,
    duration: seconds,
    headers: { "content-type": "application/json" },
    requests: [{ setupRequest: (request) => ({ ...request, body: bodies[next++ % bodies.length]! }) }]
  })
  if (result.non2xx > 0 || result.errors > 0 || result.timeouts > 0) {
    throw new Error(
      `POST /orders under load: ${result.non2xx} answers other than 2xx ${
        JSON.stringify(result.statusCodeStats ?? {})
      }, ${result.errors} errors, ${result.timeouts} timeouts`
    )
  }
  return { rate: result["2xx"] / result.duration, p50: result.latency.p50, p99: result.latency.p99 }
}

/** The example server as a child process, under autocannon. */
const overHttp = async (env: { readonly DATA_DIR?: string; readonly DATABASE_URL?: string }): Promise<Load> => {
  const server = await startServer(env)
  try {
    const skus = skusOf(randomUUID().slice(0, 8))
    for (const sku of skus) {
      const restocked = await request(server, "POST", `/inventory/${sku}/restock`, { quantity: STOCK })
      if (restocked.status !== 200) throw new Error(`POST /inventory/${sku}/restock: ${restocked.status}`)
    }
    await cannon(server.url, skus, 1)
    return await cannon(server.url, skus, SECONDS)
  } finally {
    await server.stop()
  }
}

/**
 * The server's layers but HTTP (`examples/http-server/main.ts`), in this process, with
 * `LOAD_CONNECTIONS` fibers placing orders back to back.
 */
const withoutHttp = (env: { readonly DATA_DIR?: string; readonly DATABASE_URL?: string }): Promise<Load> => {
  const config = new Map(Object.entries({ PAYMENT_TIMEOUT: "10 minutes", ...env }))
  const AppLive = FulfilmentLive.pipe(
    Layer.provideMerge(CommandHandler.layer()),
    Layer.provideMerge(EventStoreLive),
    Layer.provideMerge(TelemetryLive),
    Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(config))),
    Layer.provide(Logger.minimumLogLevel(LogLevel.Error))
  )
  return Effect.runPromise(Effect.scoped(
    Effect.gen(function*() {
      const handler = yield* CommandHandler.CommandHandler
      const bodies = skusOf(randomUUID().slice(0, 8)).map(orderBody)
      for (const { lines } of bodies) yield* handler.execute(Inventory, lines[0]!.sku, "restock", { quantity: STOCK })
      let next = 0
      const run = (seconds: number) =>
        Effect.gen(function*() {
          const times: Array<number> = []
          const end = performance.now() + seconds * 1000
          const start = performance.now()
          // the clock is checked in the loop: with SQLite the fibers only yield through microtasks
          yield* Effect.forEach(
            Array.from({ length: LOAD_CONNECTIONS }),
            () =>
              Effect.gen(function*() {
                while (performance.now() < end) {
                  const begun = performance.now()
                  yield* handler.execute(Order, OrderId.make(randomUUID()), "place", bodies[next++ % bodies.length]!)
                  times.push(performance.now() - begun)
                  // back to the event loop, as each response is: the relay's fibers get their turns
                  yield* Effect.promise(() => new Promise((resolve) => setImmediate(resolve)))
                }
              }),
            { concurrency: "unbounded" }
          )
          const elapsed = (performance.now() - start) / 1000
          return { rate: times.length / elapsed, p50: percentile(times, 50), p99: percentile(times, 99) }
        })
      yield* run(1)
      return yield* run(SECONDS)
    }).pipe(Effect.provide(AppLive), Effect.orDie)
  ))
}

/** `ROUNDS` rounds of each, alternating; medians. */
const load = async (
  name: string,
  environment: () => Promise<
    { readonly env: { readonly DATA_DIR?: string; readonly DATABASE_URL?: string }; readonly done: () => void }
  >
): Promise<ReadonlyArray<Figure>> => {
  const http: Array<Load> = []
  const direct: Array<Load> = []
  const show = (l: Load) => `${Math.round(l.rate)}/s p50 ${l.p50.toFixed(2)} p99 ${l.p99.toFixed(2)} ms`
  for (let round = 0; round < ROUNDS; round++) {
    for (const [runs, measure] of [[direct, withoutHttp], [http, overHttp]] as const) {
      const { done, env } = await environment()
      try {
        runs.push(await measure(env))
      } finally {
        done()
      }
    }
    console.error(`  ${name} round ${round + 1}: HTTP ${show(http.at(-1)!)}; without HTTP ${show(direct.at(-1)!)}`)
  }
  const of = (runs: ReadonlyArray<Load>, key: keyof Load) => median(runs.map((l) => l[key]))
  return [
    figure(name, of(http, "rate"), "orders/s", of(direct, "rate"), ">= 0.5x without HTTP"),
    figure(`${name}.p50`, of(http, "p50"), "ms", of(direct, "p50")),
    figure(`${name}.p99`, of(http, "p99"), "ms", of(direct, "p99"))
  ]
}

/** `http.load.sqlite*` */
export const runLoadSqlite = (): Promise<ReadonlyArray<Figure>> =>
  load("http.load.sqlite", () => {
    const dataDir = tempDataDir()
    return Promise.resolve({
      env: { DATA_DIR: dataDir },
      done: () => rmSync(dataDir, { recursive: true, force: true })
    })
  })

/** `http.load.pg*` */
export const runLoadPg = (freshDatabase: () => Promise<string>) => (): Promise<ReadonlyArray<Figure>> =>
  load("http.load.pg", async () => ({ env: { DATABASE_URL: await freshDatabase() }, done: () => {} }))
