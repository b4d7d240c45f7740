import { describe, expect, it } from "@effect/vitest"
import { readFileSync } from "node:fs"

const readme = readFileSync("README.md", "utf8")

/** Every code block introduced by a line naming `examples/....ts` and a colon. */
const embedded = [...readme.matchAll(/`(examples\/[\w/-]+\.ts)`[^\n]*:\n\n```ts\n([\s\S]*?)```\n/g)].map((m) => ({
  file: m[1]!,
  code: m[2]!
}))

describe("README", () => {
  it("embeds the compiled example files verbatim", () => {
    expect(embedded.map((e) => e.file)).toEqual(
      expect.arrayContaining(["examples/quickstart.ts", "examples/sql-layers.ts"])
    )
    for (const { code, file } of embedded) expect(code, file).toBe(readFileSync(file, "utf8"))
  })

  it("shows the two set-up commands", () => {
    expect(readme).toContain("npm install && npm start")
    expect(readme).toContain("npm test")
  })
})
