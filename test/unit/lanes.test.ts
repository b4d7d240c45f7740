/**
 * The lanes (vitest.config.ts, docs/test-suite.md): every test file is in a lane's folder, so it
 * runs; a unit test reaches nothing outside the process; only the postgres and chaos lanes use
 * the PostgreSQL server. Imports are followed through the test helpers (not into src/ or examples/:
 * the code under test, which a unit test runs in memory).
 */
import { describe, expect, it } from "@effect/vitest"
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs"
import { dirname, join, relative, resolve } from "node:path"

const root = resolve(import.meta.dirname, "..", "..")
const lanes = ["unit", "integration", "postgres", "chaos"]

const filesUnder = (dir: string): Array<string> =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? filesUnder(path) : [path]
  })

const testFiles = filesUnder(join(root, "test")).filter((file) => file.endsWith(".test.ts"))
const laneOf = (file: string) => relative(join(root, "test"), file).split("/")[0]!

/** The modules a file imports: package names, and the files of relative imports. */
const importsOf = (file: string) => {
  const text = readFileSync(file, "utf8")
  const specifiers = [...text.matchAll(/^\s*(?:import|export)\s[^;]*?from\s+"([^"]+)"/gm)].map((m) => m[1]!)
  return {
    packages: specifiers.filter((s) => !s.startsWith(".")),
    files: specifiers.filter((s) => s.startsWith(".")).map((s) => resolve(dirname(file), s.replace(/\.js$/, ".ts")))
  }
}

/** Everything `file` reaches through relative imports of test/ files. */
const reach = (file: string) => {
  const files = new Set<string>()
  const packages = new Set<string>()
  const visit = (path: string) => {
    if (files.has(path) || !existsSync(path)) return
    files.add(path)
    const imports = importsOf(path)
    for (const p of imports.packages) packages.add(p)
    for (const f of imports.files) if (relative(root, f).startsWith("test/")) visit(f)
  }
  visit(file)
  return { files: [...files].map((f) => relative(root, f)), packages: [...packages] }
}

/** What a unit test may not reach: processes, files of databases, servers, sockets. */
const outsideTheProcess = [
  "node:child_process",
  "node:net",
  "node:http",
  "better-sqlite3",
  "@effect/sql-sqlite-node",
  "@effect/sql-pg",
  "pg",
  "playwright-core"
]

/** The helpers that need the PostgreSQL server the postgres and chaos lanes start. */
const needsPostgres = ["test/support/database.ts", "test/support/pg.ts"]

describe("the test lanes", () => {
  it("every test file is in a lane's folder, where vitest runs it", () => {
    expect(testFiles.length).toBeGreaterThan(40)
    expect(testFiles.filter((file) => !lanes.includes(laneOf(file))).map((f) => relative(root, f))).toEqual([])
    for (const lane of lanes) expect(testFiles.some((file) => laneOf(file) === lane), lane).toBe(true)
  })

  it("a unit test reaches no database, server, socket or child process", () => {
    const offending = testFiles.filter((file) => laneOf(file) === "unit").flatMap((file) => {
      const reached = reach(file)
      return reached.packages.filter((p) => outsideTheProcess.includes(p)).map((p) =>
        `${relative(root, file)} reaches ${p}`
      )
    })
    expect(offending).toEqual([])
  })

  it("only the postgres and chaos lanes use the PostgreSQL server", () => {
    const offending = testFiles.filter((file) => !["postgres", "chaos"].includes(laneOf(file))).flatMap((file) =>
      reach(file).files.filter((f) => needsPostgres.includes(f)).map((f) => `${relative(root, file)} reaches ${f}`)
    )
    expect(offending).toEqual([])
    // and the rule sees them where they are
    expect(reach(join(root, "test/postgres/PgRelay.test.ts")).files).toContain("test/support/pg.ts")
  })

  it("the checks see what they look for", () => {
    expect(reach(join(root, "test/integration/SqliteRelay.test.ts")).packages).toContain("@effect/sql-sqlite-node")
    expect(reach(join(root, "test/integration/http-server/sqlite.test.ts")).packages).toContain("node:child_process")
  })
})
