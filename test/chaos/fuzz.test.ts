/**
 * HTTP fuzzing: generated hostile requests against the example server, on SQLite and on
 * PostgreSQL, one at a time. No 5xx, no request left without an answer, no crash; every error a
 * 4xx with a JSON body; every 2xx for a valid request that did what it should (`fuzz.ts`); and
 * the server serves a normal order afterwards.
 */
import { describe, expect, it } from "@effect/vitest"
import { freshDatabase } from "../support/database.js"
import { request, settled, startServer, tempDataDir } from "../support/server.js"
import { fuzz } from "./fuzz.js"
import { cases } from "./hostile.js"
import { full, seed, size, timeout } from "./size.js"

const run = (
  name: string,
  env: () => Promise<{ readonly DATA_DIR?: string; readonly DATABASE_URL?: string }>,
  count: number
) =>
  it(`${name}: ${count} hostile requests, no 5xx, every error a JSON 4xx, valid ones applied`, async () => {
    const server = await startServer(await env())
    try {
      const started = Date.now()
      const report = await fuzz(Number(new URL(server.url).port), cases(seed, count))
      console.log([
        `fuzz, ${name}: seed ${seed}, ${report.cases} cases, ${((Date.now() - started) / 1000).toFixed(0)} s`,
        `  answers by status ${
          JSON.stringify(report.statuses)
        }; 2xx checked ${report.accepted}; problems ${report.problems.length}`,
        ...report.problems.slice(0, 10).map((p) => `  ${p}`)
      ].join("\n"))
      const replay = `fuzz seed ${seed} (replay with CHAOS_SEED=${seed})`
      expect(report.problems.slice(0, 20), replay).toEqual([])
      expect(server.child.exitCode, replay).toBe(null)
      // still serving
      expect((await request(server, "POST", "/inventory/after-fuzz/restock", { quantity: 2 })).status, replay).toBe(200)
      const placed = await request(server, "POST", "/orders", {
        customerId: "ada",
        lines: [{ sku: "after-fuzz", quantity: 1 }]
      })
      expect(placed.status, replay).toBe(202)
      expect((await settled(server, placed.body.orderId)).status, replay).toBe("confirmed")
      expect(server.output(), replay).not.toContain("request failed")
    } finally {
      expect(await server.stop()).toBe(0)
    }
  }, timeout)

describe("HTTP fuzzing", () => {
  run("SQLite", async () => ({ DATA_DIR: tempDataDir() }), size.fuzzCases)
  run(
    "PostgreSQL",
    async () => ({ DATABASE_URL: await freshDatabase("chaos_fuzz") }),
    full ? size.fuzzCases : size.fuzzCases / 2
  )
})
