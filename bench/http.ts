/**
 * The example HTTP server (`examples/http-server/main.ts`, run as `npm start` runs it) under
 * light load: one order at a time, from `POST /orders` until a `GET /orders/{id}` shows it
 * settled (confirmed), polling back to back. The baseline is the floor of that measurement in the
 * same run, on the same server: the `POST` and the first `GET` alone.
 */
import { randomUUID } from "node:crypto"
import { rmSync } from "node:fs"
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
