/**
 * Health and metrics: `GET /health` judges every subscription (200 `healthy` or `degraded`, 503
 * `unhealthy` with the reasons: see the admin tests for a dead letter, the PostgreSQL outage test
 * for an unreachable database); `GET /metrics` is the Prometheus text exposition of the library's
 * metrics, per process.
 */
import { describe, expect, it } from "@effect/vitest"
import { rawRequest } from "../../support/server.js"
import { type Contract, freshSku } from "./shared.js"

/** A sample's value in a Prometheus exposition, by its name and first labels (0 when not there yet). */
const sample = (text: string, series: string) => {
  const line = text.split("\n").find((l) => l.startsWith(series))
  return line === undefined ? 0 : Number(line.split(" ").pop())
}

export const observabilityContract = ({ next }: Contract) =>
  describe("health and metrics", () => {
    it("GET /health is 200 healthy, per subscription", async () => {
      const answer = await rawRequest(next(), { method: "GET", path: "/health" })
      expect([answer.status, answer.contentType]).toEqual([200, "application/json"])
      expect(answer.body).toEqual({
        status: "healthy",
        checkedAt: expect.any(Number),
        reasons: [],
        subscriptions: ["charge-payments", "OrderFulfilment", "OrderFulfilment.commands"].map((subscription) => ({
          subscription,
          status: "healthy",
          lag: expect.any(Number),
          oldestUndeliveredAgeMillis: expect.any(Number),
          deadLetters: 0,
          reasons: []
        }))
      })
    })

    it("GET /metrics is the Prometheus exposition of the library's metrics", async () => {
      const server = next()
      const series = `effect_ddd_commands_total{aggregate="Inventory",command="restock",outcome="success",`
      const scrape = async () => {
        const answer = await rawRequest(server, { method: "GET", path: "/metrics" })
        expect([answer.status, answer.contentType]).toEqual([200, "text/plain; version=0.0.4; charset=utf-8"])
        return answer.body as string
      }
      const before = sample(await scrape(), series)
      const restock = await rawRequest(server, {
        method: "POST",
        path: `/inventory/${freshSku("counted")}/restock`,
        headers: { "content-type": "application/json" },
        chunks: [`{"quantity":1}`]
      })
      expect(restock.status).toBe(200)
      const text = await scrape()
      expect(sample(text, series)).toBe(before + 1)
      expect(text).toContain("# TYPE effect_ddd_commands_total counter")
      expect(text).toContain("# TYPE effect_ddd_command_duration_seconds histogram")
    })
  })
