/**
 * The CLI's answers to bad arguments and unreachable databases: a clear message on stderr, a
 * non-zero exit (2 for arguments, 1 for the database), never a stack trace.
 */
import { describe, expect, it } from "@effect/vitest"
import { mkdtempSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { cli, cliFromSource, cliInProcess, stackTrace } from "../../support/cli.js"

/** A port nothing listens on. */
const closedPort = (): Promise<number> =>
  new Promise((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 1))
    })
  })

describe("CLI arguments", { timeout: 120_000 }, () => {
  it("--help lists the commands; --version prints the package's version", async () => {
    const help = await cli(["--help"])
    expect(help.code).toBe(0)
    for (const command of ["migrate", "status", "dead-letters list", "dead-letters redrive", "replay"]) {
      expect(help.stdout).toContain(command)
    }
    const version = await cli(["--version"])
    expect([version.code, version.stdout.trim()]).toEqual([0, "0.1.0"])
  })

  it("runs from the source through tsx too", async () => {
    const missing = await cliFromSource(["status"])
    expect([missing.code, missing.stderr]).toEqual([
      2,
      "effect-ddd: no database: pass --database <PostgreSQL URL or SQLite file>, or set DATABASE_URL\n"
    ])
  })

  it("bad arguments: exit 2 with what is wrong", async () => {
    const cases: ReadonlyArray<readonly [ReadonlyArray<string>, string]> = [
      [["bogus"], "Invalid subcommand for effect-ddd - use one of 'migrate', 'status', 'dead-letters', 'replay'"],
      [["status"], "no database: pass --database <PostgreSQL URL or SQLite file>, or set DATABASE_URL"],
      [
        ["status", "-d", "mysql://localhost/app"],
        `unsupported database URL scheme "mysql": use postgres://... or a SQLite file path`
      ],
      [["status", "-d", "app.db", "--jsn"], "Received unknown argument: '--jsn'"],
      [["dead-letters", "show", "-d", "app.db"], "Missing argument <id>"],
      [["dead-letters", "redrive", "x", "-d", "app.db", "--wait", "soon"], "'soon' is not a integer"],
      [["dead-letters", "redrive", "x", "-d", "app.db", "--wait", "-1"], "--wait must be 0 or more"],
      [["replay", "projection", "-d", "app.db", "--from", "0"], "--from must be a position (1 or more)"],
      [["replay", "-d", "app.db"], "Missing argument <subscription>"]
    ]
    // the bin answers as the program does: one case through it, the others in this process
    const ran = [await cli(cases[0]![0]), ...await Promise.all(cases.slice(1).map(([args]) => cliInProcess(args)))]
    for (const [i, [args, message]] of cases.entries()) {
      expect(ran[i]!.code, args.join(" ")).toBe(2)
      expect(ran[i]!.stderr, args.join(" ")).toContain(message)
      expect(ran[i]!.stderr).not.toMatch(stackTrace)
    }
  })

  it("an unreachable database: exit 1 with the reason", async () => {
    const port = await closedPort()
    const pg = await cli(["status"], { DATABASE_URL: `postgres://ada:secret@127.0.0.1:${port}/app` })
    expect(pg.code).toBe(1)
    expect(pg.stderr).toBe(
      `effect-ddd: cannot open the database postgres://ada:***@127.0.0.1:${port}/app: PgClient: Failed to connect: connect ECONNREFUSED 127.0.0.1:${port}\n`
    )
    const dir = mkdtempSync(join(tmpdir(), "effect-ddd-cli-"))
    const missing = await cli(["dead-letters", "list", "-d", join(dir, "none.db")])
    expect([missing.code, missing.stderr]).toEqual([
      1,
      `effect-ddd: no SQLite database at ${join(dir, "none.db")} (effect-ddd migrate creates one)\n`
    ])
    const noDirectory = await cli(["migrate", "-d", join(dir, "missing", "app.db")])
    expect([noDirectory.code, noDirectory.stderr]).toEqual([
      1,
      `effect-ddd: cannot create ${join(dir, "missing", "app.db")}: no directory ${join(dir, "missing")}\n`
    ])
    for (const ran of [pg, missing, noDirectory]) expect(ran.stderr).not.toMatch(stackTrace)
  })
})
