/**
 * The example server on PostgreSQL: the contract with two processes sharing one database (started
 * together, so their migrations race too), and a database outage, made by cutting a TCP proxy
 * between the server and PostgreSQL: 503s while it lasts (the health check says unhealthy), no
 * crash, and service again after it.
 */
import { describe, expect, it } from "@effect/vitest"
import { connect, createServer, type Server as NetServer, type Socket } from "node:net"
import { contractSuite } from "../contracts/http/index.js"
import { freshDatabase } from "../support/database.js"
import { eventually, request, settled, startServer } from "../support/server.js"

contractSuite("PostgreSQL, two processes", async (env) => {
  const url = await freshDatabase("http_server")
  return Promise.all([startServer({ ...env, DATABASE_URL: url }), startServer({ ...env, DATABASE_URL: url })])
})

/** A TCP proxy to PostgreSQL that can be cut (listener closed, connections destroyed) and restored. */
const tcpProxy = async (target: { readonly host: string; readonly port: number }) => {
  const sockets = new Set<Socket>()
  let listener: NetServer | undefined
  let port = 0
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const server = createServer((client) => {
        const upstream = connect(target.port, target.host)
        for (const socket of [client, upstream]) {
          sockets.add(socket)
          socket.on("close", () => sockets.delete(socket)).on("error", () => {
            client.destroy()
            upstream.destroy()
          })
        }
        client.pipe(upstream).pipe(client)
      })
      server.once("error", reject).listen(port, "127.0.0.1", () => {
        port = (server.address() as { port: number }).port
        listener = server
        resolve()
      })
    })
  await listen()
  return {
    port: () => port,
    cut: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy()
        listener!.close(() => resolve())
      }),
    restore: listen,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy()
        if (listener?.listening) listener.close(() => resolve())
        else resolve()
      })
  }
}

describe("the example server on PostgreSQL", () => {
  it("answers 503 while the database is unreachable, and serves again once it is back", async () => {
    const url = new URL(await freshDatabase("http_outage"))
    const proxy = await tcpProxy({ host: url.hostname, port: Number(url.port) })
    url.host = `127.0.0.1:${proxy.port()}`
    const server = await startServer({ DATABASE_URL: url.toString() })
    try {
      expect(server.output()).toContain(`database: PostgreSQL postgres://postgres@127.0.0.1:${proxy.port()}/`)
      expect((await request(server, "POST", "/inventory/apple/restock", { quantity: 5 })).status).toBe(200)

      await proxy.cut()
      const during = [
        await request(server, "POST", "/inventory/apple/restock", { quantity: 1 }),
        await request(server, "GET", "/inventory/apple"),
        await request(server, "POST", "/orders", { customerId: "ada", lines: [{ sku: "apple", quantity: 1 }] }),
        await request(server, "GET", "/orders/some-order"),
        await request(server, "POST", "/orders/some-order/cancel")
      ]
      for (const answer of during) {
        expect([answer.status, answer.contentType, answer.body.error]).toEqual([
          503,
          "application/json",
          "ServiceUnavailable"
        ])
        expect(answer.body.message).toBe("the database is unavailable or busy; try again later")
      }
      const health = await request(server, "GET", "/health")
      expect([health.status, health.body.error, health.body.status]).toEqual([503, "Unhealthy", "unhealthy"])
      expect(health.body.reasons).toEqual([expect.stringMatching(/^the database cannot be reached: /)])
      expect(server.child.exitCode).toBe(null)

      await proxy.restore()
      await eventually(async () => {
        expect((await request(server, "GET", "/inventory/apple")).body).toEqual({
          sku: "apple",
          available: 5,
          reserved: 0,
          sold: 0
        })
      })
      expect((await request(server, "GET", "/health")).status).toBe(200)
      const placed = await request(server, "POST", "/orders", {
        customerId: "ada",
        lines: [{ sku: "apple", quantity: 2 }]
      })
      expect(placed.status).toBe(202)
      expect((await settled(server, placed.body.orderId)).status).toBe("confirmed")
    } finally {
      expect(await server.stop()).toBe(0)
      await proxy.close()
    }
  })

  it("logs the database URL without its password", async () => {
    const url = new URL(await freshDatabase("http_redact"))
    url.password = "s3cret-pass"
    // the server refuses to start (the password is wrong, or the server trusts everyone): either
    // way its log names the database without the password
    const server = await startServer({ DATABASE_URL: url.toString() }).catch((error: Error) => ({ error }))
    const output = "error" in server ? server.error.message : server.output()
    if (!("error" in server)) expect(await server.stop()).toBe(0)
    expect(output).toContain(`database: PostgreSQL postgres://postgres:***@${url.host}${url.pathname}`)
    expect(output).not.toContain("s3cret-pass")
  })
})
