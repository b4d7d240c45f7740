import { describe, expect, it } from "@effect/vitest"
import { readFileSync } from "node:fs"

describe("README", () => {
  it("the quick start is the compiled examples/quickstart.ts, verbatim", () => {
    const readme = readFileSync("README.md", "utf8")
    const section = readme.slice(readme.indexOf("## Quick start"))
    const code = section.slice(section.indexOf("```ts\n") + 6, section.indexOf("```\n", section.indexOf("```ts\n") + 6))
    expect(code).toBe(readFileSync("examples/quickstart.ts", "utf8"))
  })

  it("shows the two set-up commands", () => {
    const readme = readFileSync("README.md", "utf8")
    expect(readme).toContain("npm install && npm start")
    expect(readme).toContain("npm test")
  })
})
