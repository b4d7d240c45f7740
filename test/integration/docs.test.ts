/**
 * `npm run docs`: the API reference is generated from the doc comments with TypeDoc, fails on an
 * undocumented export, and its examples are compiled files included from examples/ and test/.
 */
import { describe, expect, it } from "@effect/vitest"
import { execFile } from "node:child_process"
import { mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { root } from "../support/build.js"

const typedoc = (args: ReadonlyArray<string>) =>
  new Promise<{ readonly code: number; readonly output: string }>((resolve) => {
    execFile(
      process.execPath,
      [join(root, "node_modules", "typedoc", "bin", "typedoc"), ...args],
      { cwd: root, timeout: 300_000 },
      (error, stdout, stderr) =>
        resolve({
          code: error === null ? 0 : typeof error.code === "number" ? error.code : -1,
          output: stdout + stderr
        })
    )
  })

const text = (html: string) =>
  html.replace(/<[^>]+>/g, "").replace(/&quot;/g, "\"").replace(/&gt;/g, ">").replace(/&lt;/g, "<").replace(
    /&amp;/g,
    "&"
  )

describe("API docs", { timeout: 300_000 }, () => {
  it("build with every export documented, the examples included from compiled files", async () => {
    const out = mkdtempSync(join(tmpdir(), "effect-ddd-docs-"))
    const built = await typedoc(["--out", out])
    expect(built.code, built.output).toBe(0)
    const page = (path: string) => text(readFileSync(join(out, path), "utf8"))
    expect(page("modules/index.Relay.html")).toContain(`export const reserveStock = Subscription.make({`)
    expect(page("functions/index.Aggregate.make.html")).toContain(`export const Inventory = Aggregate.make({`)
    expect(page("modules/testing.ProcessManagerSpec.html")).toContain(
      `const spec = ProcessManagerSpec.make(Fulfilment, orderId)`
    )
    expect(page("index.html")).toContain("effect-ddd")
  })

  it("fail on an undocumented export", async () => {
    const out = mkdtempSync(join(tmpdir(), "effect-ddd-docs-"))
    // the project's options (test/docs/typedoc.json extends typedoc.json) on a module with one undocumented export
    const built = await typedoc(["--options", "test/docs/typedoc.json", "--out", out])
    expect(built.code).not.toBe(0)
    expect(built.output).toContain(
      "undocumented (Variable), defined in effect-ddd/test/docs/undocumented.ts, does not have any documentation"
    )
    expect(built.output).not.toContain(" documented (Variable)")
  })
})
