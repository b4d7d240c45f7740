import { describe, expect, it } from "@effect/vitest"
import { execFileSync } from "node:child_process"

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
})
