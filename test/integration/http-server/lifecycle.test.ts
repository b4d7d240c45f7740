/**
 * The server's life as a process: what it logs, idempotency keys that outlive a restart on the
 * same SQLite file, and a graceful stop on SIGTERM (no new connections, the request in flight
 * answered, its consequences delivered, exit code 0).
 */
import { describe, expect, it } from "@effect/vitest"
import Database from "better-sqlite3"
import { randomUUID } from "node:crypto"
import { existsSync } from "node:fs"
import { request as httpRequest } from "node:http"
import { createServer, type Socket } from "node:net"
import { join } from "node:path"
import { request, settled, startServer, tempDataDir } from "../../support/server.js"

describe("the example server's lifecycle", () => {
  it("creates DATA_DIR and logs its database, migrations, subscriptions and address", async () => {
    const dataDir = join(tempDataDir(), "nested", "data")
    const server = await startServer({ DATA_DIR: dataDir })
    const first = server.output()
    expect(await server.stop("SIGINT")).toBe(0)
    expect(existsSync(join(dataDir, "app.db"))).toBe(true)
    expect(first).toContain(`database: SQLite ${join(dataDir, "app.db")}`)
    expect(first).toMatch(/migrations: applied \d+_\w+/)
    expect(first).toMatch(/relay relay-\w+ started: [\w-]+ \(\d+ partitions\)/)
    expect(first).toMatch(/Listening on http:\/\/[^\s:]+:\d+/)

    const again = await startServer({ DATA_DIR: dataDir })
    expect(await again.stop()).toBe(0)
    expect(again.output()).toContain("migrations: up to date")
  })

  it("idempotency keys survive a restart on the same SQLite file", async () => {
    const dataDir = tempDataDir()
    const key = randomUUID()
    const body = { customerId: "ada", lines: [{ sku: "apple", quantity: 2 }] }
    const before = await startServer({ DATA_DIR: dataDir })
    expect((await request(before, "POST", "/inventory/apple/restock", { quantity: 5 })).status).toBe(200)
    const first = await request(before, "POST", "/orders", body, { "Idempotency-Key": key })
    expect(first.status).toBe(202)
    expect((await settled(before, first.body.orderId)).status).toBe("confirmed")
    expect(await before.stop()).toBe(0)

    const after = await startServer({ DATA_DIR: dataDir })
    try {
      expect(await request(after, "POST", "/orders", body, { "Idempotency-Key": key })).toEqual(first)
      const other = await request(after, "POST", "/orders", { ...body, customerId: "bob" }, { "Idempotency-Key": key })
      expect([other.status, other.body.error]).toEqual([422, "IdempotencyKeyReused"])
      expect((await request(after, "GET", `/orders/${first.body.orderId}`)).body.status).toBe("confirmed")
      expect((await request(after, "GET", "/inventory/apple")).body.available).toBe(3)
    } finally {
      expect(await after.stop()).toBe(0)
    }
  })

  it("stops gracefully on SIGTERM: refuses new connections, answers the request in flight, delivers its events", async () => {
    const dataDir = tempDataDir()
    const server = await startServer({ DATA_DIR: dataDir })
    expect((await request(server, "POST", "/inventory/apple/restock", { quantity: 5 })).status).toBe(200)
    const { port } = new URL(server.url)
    const body = JSON.stringify({ customerId: "ada", lines: [{ sku: "apple", quantity: 2 }] })

    // a request whose body is still arriving when SIGTERM comes. It asks to continue before
    // sending its body: the server's "100 Continue" says it has read the request's head
    let send: (rest: string) => void = () => {}
    let received: () => void = () => {}
    const headRead = new Promise<void>((resolve) => (received = resolve))
    const inFlight = new Promise<{ status: number; body: any }>((resolve, reject) => {
      const req = httpRequest({
        host: "127.0.0.1",
        port,
        method: "POST",
        path: "/orders",
        headers: {
          "content-type": "application/json",
          "content-length": Buffer.byteLength(body),
          expect: "100-continue"
        }
      }, (res) => {
        let text = ""
        res.setEncoding("utf8").on("data", (data: string) => (text += data)).on(
          "end",
          () => resolve({ status: res.statusCode!, body: JSON.parse(text) })
        )
      })
      req.on("error", reject)
      req.on("continue", () => {
        req.write(body.slice(0, 10))
        received()
      })
      req.flushHeaders()
      send = (rest) => req.end(rest)
    })
    await headRead
    server.child.kill("SIGTERM")
    await expect.poll(() => server.output(), { timeout: 60_000 }).toContain("stopped accepting connections")
    await expect(fetch(`${server.url}/inventory/apple`)).rejects.toThrow()
    send(body.slice(10))
    const answer = await inFlight
    expect(answer.status).toBe(202)
    expect(await server.exited).toBe(0)
    expect(server.output()).toContain("relay: deliveries finished")

    // the order placed by the request in flight was fulfilled before the exit
    const db = new Database(join(dataDir, "app.db"), { readonly: true })
    try {
      const row = db.prepare("SELECT state FROM effect_ddd_states WHERE aggregate_type = 'Order' AND aggregate_id = ?")
        .get(answer.body.orderId) as { state: string } | undefined
      expect(JSON.parse(row!.state).status).toBe("confirmed")
    } finally {
      db.close()
    }
  })

  it("stops within its grace periods on SIGTERM while a delivery hangs, leaving it for the next start", async () => {
    // a payment gateway that accepts connections and never answers
    const sockets: Array<Socket> = []
    const gateway = createServer((socket) => void sockets.push(socket))
    await new Promise<void>((resolve) => gateway.listen(0, "127.0.0.1", resolve))
    const address = gateway.address()
    const gatewayUrl = `http://127.0.0.1:${typeof address === "object" && address !== null ? address.port : 0}`
    const dataDir = tempDataDir()
    try {
      // no payment deadline while the test runs: the order stays pending whatever the stop takes
      const server = await startServer({
        DATA_DIR: dataDir,
        PAYMENT_GATEWAY_URL: gatewayUrl,
        PAYMENT_TIMEOUT: "30 minutes"
      })
      expect((await request(server, "POST", "/inventory/apple/restock", { quantity: 5 })).status).toBe(200)
      const placed = await request(server, "POST", "/orders", {
        customerId: "ada",
        lines: [{ sku: "apple", quantity: 1 }]
      })
      expect(placed.status).toBe(202)
      // the charge is in flight, and never answered
      await expect.poll(() => sockets.length, { timeout: 60_000 }).toBeGreaterThan(0)
      server.child.kill("SIGTERM")
      expect(await server.exited).toBe(0)
      // the stop gave up on the hanging delivery (the relay's drain timeout) rather than waiting
      // for the charge's timeout and retries: it rolled back, for the next start
      expect(server.output()).toContain("relay: stopping with deliveries left for the next start")
      expect(server.output()).not.toContain("relay: deliveries finished")
      const db = new Database(join(dataDir, "app.db"), { readonly: true })
      try {
        const row = db.prepare(
          "SELECT state FROM effect_ddd_states WHERE aggregate_type = 'Order' AND aggregate_id = ?"
        )
          .get(placed.body.orderId) as { state: string } | undefined
        expect(JSON.parse(row!.state).status).toBe("pending")
      } finally {
        db.close()
      }
    } finally {
      for (const socket of sockets) socket.destroy()
      gateway.close()
    }
  })
})
