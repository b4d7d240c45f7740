import { describe, expect, it } from "@effect/vitest"
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { dirname, join } from "node:path"

const readme = readFileSync("README.md", "utf8")
const pages = readdirSync("docs").filter((file) => file.endsWith(".md")).map((file) => join("docs", file))

/** Every code block introduced by a line naming `examples/....ts` and a colon. */
const embedded = (text: string) =>
  [...text.matchAll(/`(examples\/[\w/.-]+\.ts)`[^\n]*:\n\n```ts\n([\s\S]*?)```\n/g)].map((m) => ({
    file: m[1]!,
    code: m[2]!
  }))

describe("README", () => {
  it("embeds the compiled example files verbatim", () => {
    expect(embedded(readme).map((e) => e.file)).toEqual(
      expect.arrayContaining(["examples/quickstart.ts", "examples/sql-layers.ts"])
    )
    for (const { code, file } of embedded(readme)) expect(code, file).toBe(readFileSync(file, "utf8"))
  })

  it("shows the two set-up commands", () => {
    expect(readme).toContain("npm install && npm start")
    expect(readme).toContain("npm test")
  })

  it("links to each page of docs/", () => {
    for (const page of pages) expect(readme, page).toContain(`](${page})`)
  })
})

describe("docs/", () => {
  it("each page embeds compiled example files verbatim", () => {
    expect(pages.length).toBeGreaterThan(0)
    expect(pages.flatMap((page) => embedded(readFileSync(page, "utf8")).map((e) => e.file))).toEqual(
      expect.arrayContaining([
        "examples/delivery.ts",
        "examples/cross-aggregate-rule.ts",
        "examples/aggregate-laws.test.ts"
      ])
    )
    for (const page of pages) {
      for (const { code, file } of embedded(readFileSync(page, "utf8"))) {
        expect(code, `${page}: ${file}`).toBe(readFileSync(file, "utf8"))
      }
    }
  })

  it("relative links point at files that exist", () => {
    for (const page of pages) {
      for (const [, target] of readFileSync(page, "utf8").matchAll(/\]\((\.\.?\/[^)#]+)(#[^)]*)?\)/g)) {
        expect(existsSync(join(dirname(page), target!)), `${page} -> ${target}`).toBe(true)
      }
    }
  })
})
