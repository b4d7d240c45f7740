import { describe, expect, it } from "@effect/vitest"
import { execFileSync } from "node:child_process"
import { readdirSync, readFileSync } from "node:fs"

const pages = readdirSync("docs").filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`)

describe("documentation pages", () => {
  it("embed the compiled example files verbatim", () => {
    const embedded = pages.flatMap((page) =>
      [...readFileSync(page, "utf8").matchAll(/`(examples\/[\w/-]+\.ts)`[^\n]*:\n\n```ts\n([\s\S]*?)```\n/g)].map((
        m
      ) => ({
        page,
        file: m[1]!,
        code: m[2]!
      }))
    )
    expect(embedded.map((e) => e.file)).toEqual(
      expect.arrayContaining([
        "examples/catalog-contracts.ts",
        "examples/course-consumer.ts",
        "examples/course-publication.ts",
        "examples/integration-events.ts",
        "examples/nats-broker.ts",
        "examples/learning-platform/contracts/Catalog.ts",
        "examples/learning-platform/catalog/Publication.ts",
        "examples/learning-platform/notifications/CourseAnnouncements.ts",
        "examples/projections.ts"
      ])
    )
    for (const { code, file, page } of embedded) expect(code, `${page}: ${file}`).toBe(readFileSync(file, "utf8"))
  })

  it("the two services example runs: the published courses offered once, the internal one never", () => {
    const output = execFileSync(process.execPath, ["--import", "tsx", "examples/integration-services.ts"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      timeout: 60_000
    })
    expect(output).toContain("offered: Effect basics (1x), Schema (1x)")
    expect(output).toContain("c-2 offered: 0x")
  })

  it("the projections example runs: version 2 built beside version 1, then serving", () => {
    const output = execFileSync(process.execPath, ["--import", "tsx", "examples/projections.ts"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      timeout: 60_000
    })
    expect(output).toContain("v1: 7 available")
    expect(output).toContain("v2: 7 available after 2 restocks")
  })

  it("the integration events example runs: both versions consumed, the republish a duplicate", () => {
    const output = execFileSync(process.execPath, ["--import", "tsx", "examples/integration-events.ts"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      timeout: 30_000
    })
    expect(output).toContain("republished: duplicate=true")
    expect(output).toContain("Effect basics: 0 lessons (published as v1)")
    expect(output).toContain("Schema: 4 lessons (published as v2)")
  })
})
