/**
 * Vitest globalSetup: provides a PostgreSQL server to every test via
 * `inject("databaseUrl")`.
 *
 * - `DATABASE_URL` set: used as-is.
 * - Otherwise a throwaway cluster is initdb'd into a fresh temp dir, listening
 *   only on 127.0.0.1 on a free port, and destroyed on teardown / process exit.
 * - No server available: throws, so PostgreSQL tests never skip silently.
 *
 * `EFFECT_DDD_PG_BIN_DIR=/some/dir` (testing aid): look for initdb/pg_ctl/postgres
 * only in that directory instead of PATH and /usr/lib/postgresql/{version}/bin.
 */
import { execFile, execFileSync } from "node:child_process"
import { accessSync, chownSync, constants, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { delimiter, join } from "node:path"
import { promisify } from "node:util"
import type { TestProject } from "vitest/node"

declare module "vitest" {
  export interface ProvidedContext {
    /** Superuser URL of the server under test (maintenance database `postgres`). */
    databaseUrl: string
    /** `true` when this run started its own cluster (DATABASE_URL was not set). */
    postgresStarted: boolean
  }
}

const run = promisify(execFile)
const BINARIES = ["initdb", "pg_ctl", "postgres"] as const

const isExecutable = (path: string): boolean => {
  try {
    accessSync(path, constants.X_OK)
    return true
  } catch {
    return false
  }
}

const hasBinaries = (dir: string): boolean => BINARIES.every((b) => isExecutable(join(dir, b)))

/** Directory holding initdb/pg_ctl/postgres: PATH first, then the highest /usr/lib/postgresql/N/bin. */
const findBinDir = (): string | undefined => {
  const forced = process.env["EFFECT_DDD_PG_BIN_DIR"]
  if (forced !== undefined) return hasBinaries(forced) ? forced : undefined
  const fromPath = (process.env["PATH"] ?? "").split(delimiter).filter((d) => d !== "")
  const root = "/usr/lib/postgresql"
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => /^\d+(\.\d+)?$/.test(v))
        .sort((a, b) => Number(b) - Number(a))
        .map((v) => join(root, v, "bin"))
    : []
  return [...fromPath, ...versions].find(hasBinaries)
}

/** A currently free TCP port on 127.0.0.1 (bind to port 0, read it back, release it). */
const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => (port > 0 ? resolve(port) : reject(new Error("could not allocate a port"))))
    })
  })

/** PostgreSQL refuses to run as root: pick an unprivileged account to run it as. */
const unprivilegedUser = (): string | undefined => {
  if (process.getuid?.() !== 0) return undefined
  try {
    execFileSync("id", ["-u", "postgres"], { stdio: "ignore" })
    return "postgres"
  } catch {
    return "nobody"
  }
}

const userIds = (user: string): { uid: number; gid: number } => ({
  uid: Number(execFileSync("id", ["-u", user], { encoding: "utf8" }).trim()),
  gid: Number(execFileSync("id", ["-g", user], { encoding: "utf8" }).trim())
})

/** `[file, args]` running `command` directly, or as `user` via runuser (or su). */
const asUser = (user: string | undefined, command: string, args: ReadonlyArray<string>): [string, Array<string>] => {
  if (user === undefined) return [command, [...args]]
  if (isExecutable("/usr/sbin/runuser") || isExecutable("/sbin/runuser")) {
    return ["runuser", ["-u", user, "--", command, ...args]]
  }
  const quoted = [command, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(" ")
  return ["su", [user, "-s", "/bin/sh", "-c", quoted]]
}

const redact = (url: string): string => {
  try {
    const parsed = new URL(url)
    if (parsed.password !== "") parsed.password = "***"
    return parsed.toString()
  } catch {
    return "(unparseable URL)"
  }
}

const fail = (reason: string): Error =>
  new Error(
    `PostgreSQL is required by the test suite but ${reason}.\n` +
      "Fix: install Debian's `postgresql` package (apt-get install postgresql) so initdb/pg_ctl/postgres " +
      "are on PATH or under /usr/lib/postgresql/<version>/bin, or set DATABASE_URL to a running server."
  )

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const fromEnv = process.env["DATABASE_URL"]
  if (fromEnv !== undefined && fromEnv !== "") {
    process.stderr.write(`[postgres] using DATABASE_URL from environment: ${redact(fromEnv)}\n`)
    project.provide("databaseUrl", fromEnv)
    project.provide("postgresStarted", false)
    return async () => {}
  }

  const binDir = findBinDir()
  if (binDir === undefined) {
    const where = process.env["EFFECT_DDD_PG_BIN_DIR"] ?? "PATH or /usr/lib/postgresql/*/bin"
    throw fail(`DATABASE_URL is not set and initdb/pg_ctl/postgres were not found in ${where}`)
  }
  const bin = (name: string) => join(binDir, name)
  const user = unprivilegedUser()
  const dir = mkdtempSync(join(tmpdir(), "effect-ddd-pg-"))
  const data = join(dir, "data")
  const log = join(dir, "postgres.log")
  const exec = (command: string, args: ReadonlyArray<string>) => {
    const [file, argv] = asUser(user, command, args)
    return run(file, argv, { cwd: dir, timeout: 120_000 })
  }

  let started = false
  const stopSync = () => {
    if (started) {
      started = false
      try {
        const [file, argv] = asUser(user, bin("pg_ctl"), ["-m", "immediate", "-D", data, "stop"])
        execFileSync(file, argv, { cwd: dir, stdio: "ignore", timeout: 30_000 })
      } catch {
        // already gone
      }
    }
    rmSync(dir, { recursive: true, force: true })
  }
  // Vitest exits on SIGINT/SIGTERM itself; re-raise only if nobody else listens.
  const onSignal = (signal: NodeJS.Signals) => {
    stopSync()
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal)
  }
  const unregister = () => {
    process.off("exit", stopSync)
    process.off("SIGINT", onSignal)
    process.off("SIGTERM", onSignal)
  }
  // Prepend: vitest's own exit/signal handlers call process.exit(), which would skip later listeners.
  process.prependListener("exit", stopSync)
  process.prependOnceListener("SIGINT", onSignal)
  process.prependOnceListener("SIGTERM", onSignal)

  let port = 0
  try {
    if (user !== undefined) {
      const { uid, gid } = userIds(user)
      chownSync(dir, uid, gid)
    }
    await exec(bin("initdb"), ["-D", data, "--auth=trust", "--username=postgres", "--encoding=UTF8", "--no-locale"])
    // Retry on a fresh port in case another process grabbed ours in between.
    for (let attempt = 1; !started; attempt++) {
      port = await freePort()
      const options = `-p ${port} -k "${dir}" -c listen_addresses=127.0.0.1 -c max_connections=200 -c shared_buffers=128MB`
      try {
        await exec(bin("pg_ctl"), ["-w", "-D", data, "-o", options, "-l", log, "start"])
        started = true
      } catch (error) {
        if (attempt >= 3) throw error
      }
    }
  } catch (error) {
    const logTail = existsSync(log) ? readFileSync(log, "utf8").split("\n").slice(-15).join("\n") : ""
    unregister()
    stopSync()
    throw fail(`starting a throwaway cluster with ${binDir} failed: ${String(error)}\n${logTail}`)
  }

  const { stdout: version } = await run(bin("postgres"), ["--version"])
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`
  process.stderr.write(`[postgres] started throwaway cluster: ${version.trim()} on ${url} (data in ${dir})\n`)
  project.provide("databaseUrl", url)
  project.provide("postgresStarted", true)

  return async () => {
    unregister()
    stopSync()
  }
}
