/**
 * A throwaway PostgreSQL cluster: initdb'd into a fresh temp dir, listening only on 127.0.0.1 on
 * a free port, with the stock durability settings (fsync and synchronous_commit on), destroyed by
 * `stop()` or, failing that, on process exit / SIGINT / SIGTERM.
 *
 * Used by the vitest globalSetup (`test/support/postgres.ts`) and by the benchmarks
 * (`bench/run.ts`), so it must not import vitest.
 *
 * `EFFECT_DDD_PG_BIN_DIR=/some/dir` (testing aid): look for initdb/pg_ctl/postgres only in that
 * directory instead of PATH and /usr/lib/postgresql/{version}/bin.
 */
import { execFile, execFileSync, spawn } from "node:child_process"
import { accessSync, chownSync, constants, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { delimiter, join } from "node:path"
import { promisify } from "node:util"
import { freePort } from "./freePort.js"

export interface Postgres {
  /** Superuser URL of the cluster (maintenance database `postgres`). */
  readonly url: string
  /** `postgres --version` output, e.g. `postgres (PostgreSQL) 15.13`. */
  readonly version: string
  /** Stops the cluster and removes its directory (synchronous, idempotent). */
  readonly stop: () => void
  /** The temp dir holding the data directory, socket and `postgres.log` (removed by `stop()`). */
  readonly dir: string
  /**
   * Stops the server and keeps its data (`pg_ctl stop`): `fast` disconnects the clients and shuts
   * down cleanly, `immediate` exits at once (like a crash: recovery runs at the next start).
   */
  readonly halt: (mode: "fast" | "immediate") => Promise<void>
  /** Starts a halted server again, on the same data directory and port. */
  readonly resume: () => Promise<void>
}

/**
 * No cluster could be started. `reason` completes a sentence ("... but <reason>"); callers wrap it
 * with their own context (see `fixHint`).
 */
export class PostgresUnavailable extends Error {
  constructor(
    readonly kind: "binaries-not-found" | "start-failed",
    readonly reason: string
  ) {
    super(`cannot start a throwaway PostgreSQL cluster: ${reason}.\n${fixHint}`)
    this.name = "PostgresUnavailable"
  }
}

export const fixHint =
  "Fix: install Debian's `postgresql` package (apt-get install postgresql) so initdb/pg_ctl/postgres " +
  "are on PATH or under /usr/lib/postgresql/<version>/bin, or set DATABASE_URL to a running server."

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

/** Where `findBinDir` looks, for error messages. */
export const binDirSearchPath = (): string =>
  process.env["EFFECT_DDD_PG_BIN_DIR"] ?? "PATH or /usr/lib/postgresql/*/bin"

/** Directory holding initdb/pg_ctl/postgres: PATH first, then the highest /usr/lib/postgresql/N/bin. */
export const findBinDir = (): string | undefined => {
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
  return ["su", [user, "-s", "/bin/sh", "-c", shellQuote([command, ...args])]]
}

const shellQuote = (words: ReadonlyArray<string>): string => words.map((w) => `'${w.replace(/'/g, `'\\''`)}'`).join(" ")

/**
 * A detached shell that waits for this process to die and then runs `cleanup`: covers the deaths no
 * handler sees (SIGKILL, e.g. tsx killing its child when a signal handler takes over 60 ms). Killed
 * by the returned function once the normal cleanup is done.
 */
const watchdog = (cleanup: string): () => void => {
  try {
    const child = spawn("/bin/sh", ["-c", `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; ${cleanup}`], {
      cwd: "/",
      detached: true,
      stdio: "ignore"
    })
    child.on("error", () => {})
    child.unref()
    return () => {
      try {
        if (child.pid !== undefined) process.kill(child.pid, "SIGKILL")
      } catch {
        // already gone
      }
    }
  } catch {
    return () => {}
  }
}

/** `url` with its password (if any) replaced by `***`, for logs. */
export const redact = (url: string): string => {
  try {
    const parsed = new URL(url)
    if (parsed.password !== "") parsed.password = "***"
    return parsed.toString()
  } catch {
    return "(unparseable URL)"
  }
}

/**
 * Starts a throwaway cluster. Cleanup on exit/SIGINT/SIGTERM is registered (prepended, so it runs
 * before handlers that call `process.exit()`, such as vitest's) before anything is created, and
 * unregistered by `stop()`. Rejects with `PostgresUnavailable` when no cluster can be started.
 */
export const startPostgres = async (): Promise<Postgres> => {
  const binDir = findBinDir()
  if (binDir === undefined) {
    throw new PostgresUnavailable(
      "binaries-not-found",
      `initdb/pg_ctl/postgres were not found in ${binDirSearchPath()}`
    )
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

  const stopArgs = ["-m", "immediate", "-D", data, "stop"]
  const killWatchdog = watchdog(
    `${shellQuote(asUser(user, bin("pg_ctl"), stopArgs).flat())} >/dev/null 2>&1; rm -rf ${shellQuote([dir])}`
  )

  let started = false
  const stopSync = () => {
    if (started) {
      started = false
      try {
        const [file, argv] = asUser(user, bin("pg_ctl"), stopArgs)
        execFileSync(file, argv, { cwd: dir, stdio: "ignore", timeout: 30_000 })
      } catch {
        // already gone
      }
    }
    rmSync(dir, { recursive: true, force: true })
    killWatchdog()
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
  const stop = () => {
    unregister()
    stopSync()
  }
  // Prepend: vitest's own exit/signal handlers call process.exit(), which would skip later listeners.
  process.prependListener("exit", stopSync)
  process.prependOnceListener("SIGINT", onSignal)
  process.prependOnceListener("SIGTERM", onSignal)

  let port = 0
  const pgStart = () =>
    exec(bin("pg_ctl"), [
      "-w",
      "-D",
      data,
      "-o",
      `-p ${port} -k "${dir}" -c listen_addresses=127.0.0.1 -c max_connections=200 -c shared_buffers=128MB`,
      "-l",
      log,
      "start"
    ])
  try {
    if (user !== undefined) {
      const { uid, gid } = userIds(user)
      chownSync(dir, uid, gid)
    }
    await exec(bin("initdb"), ["-D", data, "--auth=trust", "--username=postgres", "--encoding=UTF8", "--no-locale"])
    // Retry on a fresh port in case another process grabbed ours in between.
    for (let attempt = 1; !started; attempt++) {
      port = await freePort()
      try {
        await pgStart()
        started = true
      } catch (error) {
        if (attempt >= 3) throw error
      }
    }
  } catch (error) {
    const logTail = existsSync(log) ? readFileSync(log, "utf8").split("\n").slice(-15).join("\n") : ""
    stop()
    throw new PostgresUnavailable(
      "start-failed",
      `starting a throwaway cluster with ${binDir} failed: ${String(error)}\n${logTail}`
    )
  }

  let version: string
  try {
    version = (await run(bin("postgres"), ["--version"])).stdout.trim()
  } catch (error) {
    stop()
    throw error
  }
  const halt = async (mode: "fast" | "immediate") => {
    await exec(bin("pg_ctl"), ["-w", "-m", mode, "-D", data, "stop"])
    started = false
  }
  const resume = async () => {
    await pgStart()
    started = true
  }
  return { url: `postgres://postgres@127.0.0.1:${port}/postgres`, version, stop, dir, halt, resume }
}
