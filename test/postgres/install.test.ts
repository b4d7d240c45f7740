/**
 * The README's install lines ("Using the package"), each as a user runs it: the package packed
 * (`npm pack`), the line's packages installed with the tarball into a fresh application in a
 * temporary directory (`--prefer-offline`: the local npm cache serves what it has), a consumer of
 * the line's entry point compiled (strict, NodeNext, `skipLibCheck: false`, with the `lib` and the
 * type packages the README names) and run.
 *
 * Each line takes one to three minutes on a busy machine, so `npm test` checks the pinned versions
 * and the SQLite line (`effect-ddd/sql` without PostgreSQL's packages); `npm run test:install`
 * (`INSTALL=full`) checks every line, and that the lines the README says need "DOM" do.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { execFile } from "node:child_process"
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { promisify } from "node:util"
import { ensureBuilt, root } from "../support/build.js"
import { freshDatabase } from "../support/database.js"
import { startNatsServer } from "../support/nats.js"

const exec = promisify(execFile)
const npm = process.platform === "win32" ? "npm.cmd" : "npm"
const tsc = join(root, "node_modules", "typescript", "bin", "tsc")
const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8"))
const readme = readFileSync(join(root, "README.md"), "utf8")

/** The section "Using the package", up to the next one. */
const section = readme.slice(
  readme.indexOf("## Using the package"),
  readme.indexOf("\n## ", readme.indexOf("## Using"))
)

/** The install lines of the section's first `sh` block, each with the comment above it. */
const lines = (() => {
  const block = /```sh\n([\s\S]*?)```/.exec(section)![1]!
  const found: Array<{ readonly label: string; readonly packages: ReadonlyArray<string> }> = []
  let label: Array<string> = []
  for (const line of block.trim().split("\n")) {
    if (line.startsWith("#")) {
      label.push(line.replace(/^#\s*/, ""))
    } else {
      const [command, install, ...packages] = line.trim().split(/\s+/)
      expect([command, install]).toEqual(["npm", "install"])
      found.push({ label: label.join(" "), packages })
      label = []
    }
  }
  return found
})()

/** The TypeScript packages the section names (`@types/node@...`, `@types/pg@...`). */
const typesOf = (name: string): string => {
  const match = new RegExp(`${name.replace("/", "\\/")}@([\\d.]+)`).exec(section)
  return `${name}@${match![1]}`
}

const sqliteConsumer = (driver: "sqlite" | "pg") =>
  `import { Effect, Either, Layer, Redacted, Schema } from "effect"
import { Aggregate, CommandHandler } from "effect-ddd"
import { SqlEventStore } from "effect-ddd/sql"
${
    driver === "sqlite"
      ? `import { SqliteClient } from "@effect/sql-sqlite-node"`
      : `import { PgClient } from "@effect/sql-pg"\nimport { PgWakeup } from "effect-ddd/sql/pg"`
  }

const Counted = Schema.TaggedStruct("Counted", { by: Schema.Int })
const Counter = Aggregate.make({
  name: "Counter",
  id: Schema.String,
  state: Schema.Struct({ n: Schema.Int }),
  events: Counted
})({ initial: () => ({ n: 0 }), evolve: { Counted: (s, e) => ({ n: s.n + e.by }) } })
  .command("count", {
    expects: "any",
    input: Schema.Struct({ by: Schema.Int }),
    decide: (_, { by }) => Either.right([Counted.make({ by })])
  })

const program = Effect.gen(function*() {
  yield* CommandHandler.execute(Counter, "c-1", "count", { by: 2 })
  const result = yield* CommandHandler.execute(Counter, "c-1", "count", { by: 3 })
  console.log(\`counter \${result.state.n} at version \${result.version}\`)
})

const Client = ${
    driver === "sqlite"
      ? `SqliteClient.layer({ filename: "app.db" })`
      : `PgClient.layer({ url: Redacted.make(process.env["DATABASE_URL"]!) })`
  }
const Live = CommandHandler.layer().pipe(Layer.provide(SqlEventStore.layer())${
    driver === "pg" ? ", Layer.merge(PgWakeup.layer())" : ""
  }, Layer.provide(Client))
Effect.runPromise(program.pipe(Effect.provide(Live)))
`

const testingConsumer = `import { Either, FastCheck, Schema } from "effect"
import { Aggregate } from "effect-ddd"
import { AggregateLaws, AggregateSpec } from "effect-ddd/testing"

const Counted = Schema.TaggedStruct("Counted", { by: Schema.Int })
const Counter = Aggregate.make({
  name: "Counter",
  id: Schema.String,
  state: Schema.Struct({ n: Schema.Int }),
  events: Counted
})({ initial: () => ({ n: 0 }), evolve: { Counted: (s, e) => ({ n: s.n + e.by }) } })
  .command("count", {
    expects: "any",
    input: Schema.Struct({ by: Schema.Int }),
    decide: (_, { by }) => Either.right([Counted.make({ by })])
  })

AggregateSpec.make(Counter, "c-1").given([Counted.make({ by: 1 })]).when("count", { by: 2 }).thenState({ n: 3 })
FastCheck.assert(FastCheck.property(AggregateLaws.scenario(Counter), (s) => {
  AggregateLaws.check(Counter, s)
}))
console.log("the laws hold")
`

const otelConsumer = `import { Effect, Either, Layer, Schema } from "effect"
import { Aggregate, CommandHandler, MemoryEventStore } from "effect-ddd"
import { OpenTelemetry } from "effect-ddd/opentelemetry"

const Counted = Schema.TaggedStruct("Counted", { by: Schema.Int })
const Counter = Aggregate.make({
  name: "Counter",
  id: Schema.String,
  state: Schema.Struct({ n: Schema.Int }),
  events: Counted
})({ initial: () => ({ n: 0 }), evolve: { Counted: (s, e) => ({ n: s.n + e.by }) } })
  .command("count", {
    expects: "any",
    input: Schema.Struct({ by: Schema.Int }),
    decide: (_, { by }) => Either.right([Counted.make({ by })])
  })

const program = Effect.gen(function*() {
  yield* CommandHandler.execute(Counter, "c-1", "count", { by: 2 })
  const metrics = yield* OpenTelemetry.scrape
  console.log(metrics.split("\\n").find((line) => line.startsWith("effect_ddd_commands_total")))
})

Effect.runPromise(program.pipe(Effect.provide(
  CommandHandler.layer().pipe(
    Layer.provide(MemoryEventStore.layer),
    Layer.provideMerge(OpenTelemetry.layer({ serviceName: "app" }))
  )
)))
`

const natsConsumer = `import { Effect } from "effect"
import { MessageBroker } from "effect-ddd"
import { NatsBroker } from "effect-ddd/nats"

const program = Effect.gen(function*() {
  const broker = yield* MessageBroker.MessageBroker
  const [ack] = yield* broker.publish([{
    id: "m-1",
    subject: "catalog.course-published.v1",
    partitionKey: "course-1",
    headers: {},
    payload: new TextEncoder().encode("{}")
  }])
  console.log(\`stored at \${ack!.sequence}\`)
})

Effect.runPromise(program.pipe(
  Effect.provide(NatsBroker.layer({ servers: process.env["NATS_URL"]! })),
  Effect.scoped
))
`

/** `npm run test:install`: every line, and the claims about "DOM" too. */
const full = process.env["INSTALL"] === "full"

interface Check {
  /** Matches the comment above the line. */
  readonly label: RegExp
  /** Checked by `npm test` too, not only by `npm run test:install`. */
  readonly always?: boolean
  readonly lib: ReadonlyArray<string>
  /** The README says this entry point's declarations need "DOM": they do not compile without it. */
  readonly needsDom?: boolean
  readonly types: ReadonlyArray<string>
  readonly files: Record<string, string>
  /** Runs the consumer (or the bin) in the application's directory; asserts its output. */
  readonly run: (app: string) => Promise<void>
}

const node = (app: string, file: string, env: Record<string, string> = {}) =>
  exec(process.execPath, [file], { cwd: app, env: { ...process.env, ...env } }).then(({ stdout }) => stdout)

const checks: ReadonlyArray<Check> = [
  {
    label: /^effect-ddd \(aggregates/,
    lib: ["ES2022"],
    types: ["@types/node"],
    files: {
      "quickstart.ts": readFileSync(join(root, "examples", "quickstart.ts"), "utf8"),
      "laws.ts": testingConsumer
    },
    run: async (app) => {
      expect(await node(app, "out/quickstart.js")).toContain(`final state: {"owner":"Ada","balance":70,"frozen":true}`)
      expect(await node(app, "out/laws.js")).toBe("the laws hold\n")
    }
  },
  {
    label: /^effect-ddd\/sql on SQLite/,
    always: true,
    lib: ["ES2022", "DOM"],
    needsDom: true,
    types: ["@types/node"],
    files: { "sqlite.ts": sqliteConsumer("sqlite") },
    run: async (app) => {
      expect(await node(app, "out/sqlite.js")).toBe("counter 5 at version 2\n")
    }
  },
  {
    label: /^effect-ddd\/sql on PostgreSQL/,
    lib: ["ES2022", "DOM"],
    types: ["@types/node", "@types/pg"],
    files: { "pg.ts": sqliteConsumer("pg") },
    run: async (app) => {
      const url = await freshDatabase("install")
      expect(await node(app, "out/pg.js", { DATABASE_URL: url })).toBe("counter 5 at version 2\n")
    }
  },
  {
    label: /^effect-ddd\/opentelemetry/,
    lib: ["ES2022"],
    types: ["@types/node"],
    files: { "otel.ts": otelConsumer },
    run: async (app) => {
      expect(await node(app, "out/otel.js")).toMatch(
        /^effect_ddd_commands_total\{aggregate="Counter",command="count",outcome="success".*\} 1\n$/
      )
    }
  },
  {
    label: /^effect-ddd\/nats/,
    lib: ["ES2022"],
    types: ["@types/node"],
    files: { "nats.ts": natsConsumer },
    run: async (app) => {
      const server = await startNatsServer()
      try {
        expect(await node(app, "out/nats.js", { NATS_URL: server.url })).toBe("stored at 1\n")
      } finally {
        await server.dispose()
      }
    }
  },
  {
    label: /^the effect-ddd CLI/,
    lib: [],
    types: [],
    files: {},
    run: async (app) => {
      const bin = join(app, "node_modules", ".bin", "effect-ddd")
      const { stdout } = await exec(bin, ["migrate", "--database", "app.db"], { cwd: app })
      expect(stdout).toContain("applied 0001_events")
      const status = await exec(bin, ["status", "--json", "--database", "app.db"], { cwd: app })
      expect(JSON.parse(status.stdout)).toMatchObject({ events: 0, subscriptions: [] })
    }
  }
]

describe("the README's install lines", { timeout: 600_000 }, () => {
  let dir: string
  let tarball: string

  it("pin the versions the library is developed and tested with", () => {
    const pinned = [...section.matchAll(/(@?[\w./-]+)@(\d+\.\d+\.\d+)/g)].map(([, name, version]) => [name, version])
    expect(pinned.length).toBeGreaterThan(20)
    for (const [name, version] of pinned) expect([name, version]).toEqual([name, manifest.devDependencies[name!]])
    // each line has its check, and each check its line
    expect(lines.map((line) => checks.findIndex((check) => check.label.test(line.label)))).toEqual(
      checks.map((_, i) => i)
    )
  })

  beforeAll(async () => {
    await ensureBuilt()
    dir = mkdtempSync(join(tmpdir(), "effect-ddd-install-"))
    const { stdout } = await exec(npm, ["pack", "--json", "--pack-destination", dir], { cwd: root })
    tarball = join(dir, (JSON.parse(stdout) as Array<{ readonly filename: string }>)[0]!.filename)
  }, 600_000)

  afterAll(() => (dir === undefined ? undefined : rm(dir, { recursive: true, force: true })), 300_000)

  for (const check of checks) {
    const run = check.always === true || full ? it : it.skip
    run(`installs, compiles and runs: ${check.label.source.replace(/[\\^]/g, "")}`, async () => {
      const line = lines.find((l) => check.label.test(l.label))!
      const app = join(dir, `app-${checks.indexOf(check)}`)
      mkdirSync(app)
      writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }))
      const install = (args: ReadonlyArray<string>) =>
        exec(npm, ["install", "--prefer-offline", "--no-audit", "--no-fund", "--ignore-scripts", ...args], {
          cwd: app,
          timeout: 300_000
        })
      await install(line.packages.map((p) => (p === "effect-ddd" ? tarball : p)))
      if (check.types.length > 0) await install(["-D", ...check.types.map(typesOf)])
      const tree = JSON.parse((await exec(npm, ["ls", "--all", "--json"], { cwd: app })).stdout)
      expect(tree.problems ?? []).toEqual([])
      if (line.packages.some((p) => p.startsWith("better-sqlite3@"))) {
        // without install scripts better-sqlite3 has no native binary (its script downloads one, or
        // compiles it for minutes): the repository's build of the same version stands in
        const installed = JSON.parse(readFileSync(join(app, "node_modules/better-sqlite3/package.json"), "utf8"))
        expect(installed.version).toBe(manifest.devDependencies["better-sqlite3"])
        cpSync(join(root, "node_modules/better-sqlite3/build"), join(app, "node_modules/better-sqlite3/build"), {
          recursive: true
        })
      }
      for (const [file, text] of Object.entries(check.files)) writeFileSync(join(app, file), text)
      if (Object.keys(check.files).length > 0) {
        writeFileSync(
          join(app, "tsconfig.json"),
          JSON.stringify({
            compilerOptions: {
              target: "ES2022",
              lib: check.lib,
              module: "NodeNext",
              moduleResolution: "NodeNext",
              types: ["node"],
              strict: true,
              exactOptionalPropertyTypes: true,
              noUncheckedIndexedAccess: true,
              skipLibCheck: false,
              outDir: "out"
            },
            include: ["*.ts"]
          })
        )
        if (check.needsDom === true && full) {
          const withoutDom = await exec(process.execPath, [tsc, "-p", "tsconfig.json", "--lib", "ES2022", "--noEmit"], {
            cwd: app
          }).then(() => "", (error: { stdout?: string }) => error.stdout ?? "")
          expect(withoutDom).toMatch(/Cannot find name '(Storage|Crypto)'/)
        }
        await exec(process.execPath, [tsc, "-p", "tsconfig.json"], { cwd: app }).catch(
          (error: { stdout?: string }) => {
            throw new Error(`tsc failed:\n${error.stdout}`)
          }
        )
      }
      await check.run(app)
      await rm(app, { recursive: true, force: true })
    }, 600_000)
  }
})
