import { describe, expect, it } from "@effect/vitest"
import { execFileSync } from "node:child_process"
import { request, startServer, tempDataDir } from "./http-server/server.js"

describe("examples", () => {
  it("the quick start runs and prints what happened", () => {
    const output = execFileSync(process.execPath, ["--import", "tsx", "examples/quickstart.ts"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"]
    })
    expect(output).toContain("deposit replayed: true, balance 100")
    expect(output).toContain("refused: balance 70, requested 1000")
    expect(output).toContain(`final state: {"owner":"Ada","balance":70}`)
  })

  it("the subscriptions example settles both orders through the relay", () => {
    const output = execFileSync(process.execPath, ["--import", "tsx", "examples/subscriptions.ts"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      timeout: 30_000
    })
    const outcomes = [...output.matchAll(/order-\d: (confirmed|rejected \(insufficient stock\))/g)].map((m) => m[1]).sort()
    expect(outcomes).toEqual(["confirmed", "rejected (insufficient stock)"])
    expect(output).toContain("apple: 1 available, 2 reserved")
  })

  it("npm start runs the HTTP server example, which stops with code 0 on SIGTERM", async () => {
    const server = await startServer({ DATA_DIR: tempDataDir() }, ["npm", "start"])
    try {
      expect(await request(server, "POST", "/inventory/apple/restock", { quantity: 1 })).toEqual({
        status: 200,
        contentType: "application/json",
        body: { sku: "apple", available: 1, reserved: 0, sold: 0 }
      })
    } finally {
      expect(await server.stop("SIGTERM")).toBe(0)
    }
    expect(server.output()).toContain("relay: deliveries finished")
  })
})
