/**
 * The package as users get it: `npm pack`, installed from the tarball into a fresh Effect
 * application in a temporary directory (from the npm registry, `--prefer-offline` so the local
 * cache serves what it has). There the README's quick start (examples/quickstart.ts, importing
 * `effect-ddd`) typechecks and runs, the entry points resolve with their types (declarations
 * checked, `skipLibCheck` off, under NodeNext and Bundler resolution), and the `effect-ddd` bin runs.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { execFile } from "node:child_process"
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { promisify } from "node:util"
import { ensureBuilt, root } from "../support/build.js"
import { freshDatabase } from "../support/database.js"

const exec = promisify(execFile)
const npm = process.platform === "win32" ? "npm.cmd" : "npm"
const tsc = join(root, "node_modules", "typescript", "bin", "tsc")
const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8"))

/** The versions the application pins: those this repository is developed and tested with. */
const pinned = (name: string): string => manifest.devDependencies[name]

const tsconfig = (moduleResolution: "NodeNext" | "Bundler") => ({
  compilerOptions: {
    target: "ES2022",
    lib: ["ES2022", "DOM"],
    module: moduleResolution === "NodeNext" ? "NodeNext" : "ESNext",
    moduleResolution,
    types: ["node"],
    strict: true,
    exactOptionalPropertyTypes: true,
    noUncheckedIndexedAccess: true,
    skipLibCheck: false,
    outDir: "out"
  },
  include: ["*.ts"]
})

/** Uses every entry point, so the declarations behind each are checked. */
const entries = `import { Effect, Layer } from "effect"
import { Aggregate, CommandHandler, MemoryEventStore, Relay } from "effect-ddd"
import { NatsBroker } from "effect-ddd/nats"
import { Migrations, SqlEventStore } from "effect-ddd/sql"
import { PgWakeup } from "effect-ddd/sql/pg"
import { AggregateSpec } from "effect-ddd/testing"
import { ApiSpec } from "effect-ddd/testing/http"

export const stores = SqlEventStore.layer()
export const broker = NatsBroker.layer({ servers: "nats://127.0.0.1:4222" })
export const pending = Migrations.pending
export const wakeup = PgWakeup.layer
export const spec = AggregateSpec.make
export const apiSpec = ApiSpec.make
export const handler = CommandHandler.layer().pipe(Layer.provide(MemoryEventStore.layer))
export const relay: typeof Relay.layer = Relay.layer
export const aggregate: typeof Aggregate.make = Aggregate.make
export const program = Effect.void
`

describe("the packed package", { timeout: 600_000 }, () => {
  let dir: string
  let app: string
  let files: ReadonlyArray<string>

  beforeAll(async () => {
    await ensureBuilt()
    dir = mkdtempSync(join(tmpdir(), "effect-ddd-package-"))
    const { stdout } = await exec(npm, ["pack", "--json", "--pack-destination", dir], { cwd: root })
    const [packed] = JSON.parse(stdout) as Array<
      { readonly filename: string; readonly files: Array<{ readonly path: string }> }
    >
    files = packed!.files.map((f) => f.path)
    app = join(dir, "app")
    mkdirSync(app)
    writeFileSync(
      join(app, "package.json"),
      JSON.stringify(
        {
          name: "app",
          private: true,
          type: "module",
          dependencies: {
            "effect-ddd": `file:../${packed!.filename}`,
            ...Object.fromEntries(
              [
                "effect",
                "@effect/platform",
                "@effect/platform-node",
                "@effect/sql",
                "@effect/sql-pg",
                "@effect/experimental",
                "@types/node",
                "@types/pg",
                "@nats-io/jetstream",
                "@nats-io/transport-node"
              ]
                .map((name) => [name, pinned(name)])
            )
          }
        },
        null,
        2
      )
    )
    // no install scripts: none of these needs one (no native driver), and effect-ddd has none
    await exec(npm, ["install", "--prefer-offline", "--no-audit", "--no-fund", "--ignore-scripts"], {
      cwd: app,
      timeout: 300_000
    })
  }, 600_000)

  afterAll(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
  })

  it("packs the build, the sources, the README and the manifest, and nothing else", () => {
    expect([...new Set(files.map((f) => f.split("/")[0]))].sort()).toEqual(["README.md", "dist", "package.json", "src"])
    for (
      const file of [
        "dist/index.js",
        "dist/index.d.ts",
        "dist/adapters/sql/index.d.ts",
        "dist/adapters/sql/pg/index.d.ts",
        "dist/adapters/nats/index.d.ts",
        "dist/testing/index.d.ts",
        "dist/testing/http/index.d.ts",
        "dist/operations/cli/bin.js"
      ]
    ) {
      expect(files).toContain(file)
    }
    expect(files.filter((f) => /\.test\.|^test\/|^bench\//.test(f))).toEqual([])
    expect(readFileSync(join(root, "dist", "operations", "cli", "bin.js"), "utf8").startsWith("#!/usr/bin/env node\n"))
      .toBe(true)
  })

  it("installs with every required peer satisfied", async () => {
    const { stdout } = await exec(npm, ["ls", "--all", "--json"], { cwd: app })
    const tree = JSON.parse(stdout) as { readonly problems?: ReadonlyArray<string> }
    expect(tree.problems ?? []).toEqual([])
  })

  it("the quick start typechecks against the installed package and runs", async () => {
    copyFileSync(join(root, "examples", "quickstart.ts"), join(app, "quickstart.ts"))
    writeFileSync(join(app, "entries.ts"), entries)
    writeFileSync(join(app, "tsconfig.json"), JSON.stringify(tsconfig("NodeNext"), null, 2))
    await exec(process.execPath, [tsc, "-p", "tsconfig.json"], { cwd: app }).catch((error: { stdout?: string }) => {
      throw new Error(`tsc (NodeNext) failed:\n${error.stdout}`)
    })
    const { stdout } = await exec(process.execPath, ["out/quickstart.js"], { cwd: app })
    expect(stdout).toContain("deposit replayed: true, balance 100")
    expect(stdout).toContain(`final state: {"owner":"Ada","balance":70,"frozen":true}`)
    // bundlers' resolution reads the same exports
    writeFileSync(
      join(app, "tsconfig.bundler.json"),
      JSON.stringify(
        { ...tsconfig("Bundler"), compilerOptions: { ...tsconfig("Bundler").compilerOptions, noEmit: true } },
        null,
        2
      )
    )
    await exec(process.execPath, [tsc, "-p", "tsconfig.bundler.json"], { cwd: app }).catch(
      (error: { stdout?: string }) => {
        throw new Error(`tsc (Bundler) failed:\n${error.stdout}`)
      }
    )
  })

  it("the effect-ddd bin runs from the installed package", async () => {
    const bin = join(app, "node_modules", ".bin", "effect-ddd")
    const run = (args: ReadonlyArray<string>) =>
      exec(bin, args, { cwd: app }).then(
        ({ stderr, stdout }) => ({ code: 0, stdout, stderr }),
        (error: { code: number; stdout: string; stderr: string }) => ({
          code: error.code,
          stdout: error.stdout,
          stderr: error.stderr
        })
      )
    expect((await run(["--version"])).stdout.trim()).toBe(manifest.version)
    const url = await freshDatabase("package")
    const migrated = await run(["migrate", "--database", url])
    expect(migrated.code, migrated.stderr).toBe(0)
    expect(migrated.stdout).toContain("applied 0001_events")
    const status = await run(["status", "--json", "--database", url])
    expect(status.code, status.stderr).toBe(0)
    expect(JSON.parse(status.stdout)).toMatchObject({ events: 0, subscriptions: [] })
    // the application has no SQLite driver: the CLI names the package to install
    writeFileSync(join(app, "app.db"), "")
    const sqlite = await run(["status", "--database", "app.db"])
    expect([sqlite.code, sqlite.stderr]).toEqual([
      1,
      "effect-ddd: SQLite needs the @effect/sql-sqlite-node package: npm install @effect/sql-sqlite-node\n"
    ])
  })
})
