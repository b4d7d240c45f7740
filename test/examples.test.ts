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
})
