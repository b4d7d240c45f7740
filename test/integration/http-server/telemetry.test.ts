/**
 * The example server's telemetry over real HTTP: Prometheus metrics, the health report, and one
 * trace from the client's request through the fulfilment's asynchronous hops, sent to an OTLP
 * collector (a stub on 127.0.0.1).
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { randomBytes } from "node:crypto"
import { createServer, type Server as HttpServer } from "node:http"
import { eventually, request, type Server, settled, startServer, tempDataDir } from "../../support/server.js"

interface ExportedSpan {
  readonly traceId: string
  readonly name: string
  readonly attributes: Record<string, unknown>
}

/** An OTLP/HTTP JSON collector keeping the spans it receives. */
const collector = () => {
  const spans: Array<ExportedSpan> = []
  const server = createServer((req, res) => {
    let body = ""
    req.setEncoding("utf8").on("data", (chunk: string) => (body += chunk)).on("end", () => {
      if (req.url === "/v1/traces") {
        for (const resource of JSON.parse(body).resourceSpans ?? []) {
          for (const scope of resource.scopeSpans ?? []) {
            for (const span of scope.spans ?? []) {
              spans.push({
                traceId: span.traceId,
                name: span.name,
                attributes: Object.fromEntries(
                  (span.attributes ?? []).map((
                    a: { key: string; value: Record<string, unknown> }
                  ) => [a.key, Object.values(a.value)[0]])
                )
              })
            }
          }
        }
      }
      res.writeHead(200, { "content-type": "application/json" }).end("{}")
    })
  })
  return { spans, server }
}

describe("the example server's telemetry", () => {
  const otlp = collector()
  let server: Server

  beforeAll(async () => {
    await new Promise<void>((resolve) => otlp.server.listen(0, "127.0.0.1", resolve))
    const port = (otlp.server.address() as { port: number }).port
    server = await startServer({ DATA_DIR: tempDataDir(), OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}` })
  })
  afterAll(async () => {
    expect(await server.stop()).toBe(0)
    await new Promise((resolve) => (otlp.server as HttpServer).close(resolve))
  })

  it("a client's trace follows its order through the relay's asynchronous hops", async () => {
    expect((await request(server, "POST", "/inventory/traced/restock", { quantity: 5 })).status).toBe(200)
    const traceId = randomBytes(16).toString("hex")
    const placed = await request(server, "POST", "/orders", {
      customerId: "ada",
      lines: [{ sku: "traced", quantity: 2 }]
    }, {
      traceparent: `00-${traceId}-${randomBytes(8).toString("hex")}-01`
    })
    expect(placed.status).toBe(202)
    expect((await settled(server, placed.body.orderId)).status).toBe("confirmed")

    const trace = await eventually(async () => {
      const mine = otlp.spans.filter((s) => s.traceId === traceId)
      const commands = mine.filter((s) => s.name === "CommandHandler.execute").map((s) =>
        `${s.attributes["effect_ddd.aggregate_type"]}.${s.attributes["effect_ddd.command"]}`
      )
      expect(commands).toEqual(expect.arrayContaining(["Order.place", "Inventory.reserve", "Order.confirm"]))
      return mine
    })
    expect(trace.some((s) => s.name === "http.server POST")).toBe(true)
    const delivered = new Set(
      trace.filter((s) => s.name === "Relay.deliver").map((s) => s.attributes["effect_ddd.subscription"])
    )
    expect([...delivered]).toEqual(
      expect.arrayContaining(["OrderFulfilment", "OrderFulfilment.commands", "charge-payments"])
    )
  })

  it("GET /health reports each subscription; GET /metrics is the Prometheus exposition", async () => {
    expect((await request(server, "POST", "/inventory/measured/restock", { quantity: 1 })).status).toBe(200)
    const placed = await request(server, "POST", "/orders", {
      customerId: "bob",
      lines: [{ sku: "measured", quantity: 1 }]
    })
    expect((await settled(server, placed.body.orderId)).status).toBe("confirmed")
    const health = await request(server, "GET", "/health")
    expect(health.status).toBe(200)
    expect(health.contentType).toBe("application/json")
    expect(health.body.status).toBe("healthy")
    expect(health.body.subscriptions.map((s: { subscription: string }) => s.subscription).sort())
      .toEqual(["OrderFulfilment", "OrderFulfilment.commands", "charge-payments"])
    for (const s of health.body.subscriptions) {
      expect(s).toMatchObject({ status: "healthy", lag: 0, deadLetters: 0, reasons: [] })
    }

    const metrics = await fetch(`${server.url}/metrics`)
    expect(metrics.status).toBe(200)
    expect(metrics.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8")
    const text = await metrics.text()
    const value = (name: string, labels: string) => {
      const line = text.split("\n").find((l) => l.startsWith(`${name}{${labels}`))
      expect(line, `${name}{${labels}...}`).toBeDefined()
      return Number(line!.split(" ").pop())
    }
    expect(value("effect_ddd_commands_total", `aggregate="Order",command="place",outcome="success"`))
      .toBeGreaterThanOrEqual(1)
    expect(value("effect_ddd_deliveries_total", `subscription="OrderFulfilment",outcome="success"`))
      .toBeGreaterThanOrEqual(1)
    expect(value("effect_ddd_subscription_lag", `subscription="OrderFulfilment"`)).toBe(0)
    expect(value("effect_ddd_dead_letters", `subscription="OrderFulfilment"`)).toBe(0)
    expect(value("effect_ddd_leases_held", `subscription="OrderFulfilment"`)).toBe(4)
    expect(text).toContain("# TYPE effect_ddd_command_duration_seconds histogram")
  })
})
