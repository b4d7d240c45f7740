/**
 * Run the `effect-ddd` CLI as a child process, as a user would: the built bin (dist/operations/cli/bin.js, built
 * first if it is out of date), or the source through tsx as in development. Or in this process
 * (`cliInProcess`), for the tests of what the commands do, which would otherwise start a Node.js
 * process per command.
 */
import { NodeContext } from "@effect/platform-node"
import { ConfigProvider, Effect, Logger } from "effect"
import { execFile } from "node:child_process"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { format } from "node:util"
import { exitCode } from "../../src/operations/cli/Cli.js"
import { ensureBuilt, root } from "./build.js"

export { root }

export interface Ran {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

const spawnCli = (
  entry: ReadonlyArray<string>,
  args: ReadonlyArray<string>,
  env: Readonly<Record<string, string>>
): { readonly pid: number | undefined; readonly ran: Promise<Ran> } => {
  const { DATABASE_URL: _, ...inherited } = process.env
  let pid: number | undefined
  const ran = new Promise<Ran>((resolve) => {
    pid = execFile(
      process.execPath,
      [...entry, ...args],
      { cwd: root, env: { ...inherited, ...env }, timeout: 120_000 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : -1
        resolve({ code, stdout, stderr })
      }
    ).pid
  })
  return { pid, ran }
}

/** `effect-ddd ...args` from the build, with `DATABASE_URL` only if given in `env`; never rejects. */
export const cli = async (args: ReadonlyArray<string>, env: Readonly<Record<string, string>> = {}): Promise<Ran> =>
  (await startCli(args, env)).ran

/** The same, started: its process id, and what it printed once it exits. */
export const startCli = async (args: ReadonlyArray<string>, env: Readonly<Record<string, string>> = {}) => {
  await ensureBuilt()
  return spawnCli(["dist/operations/cli/bin.js"], args, env)
}

/** The same from the source, through tsx (`npm run cli -- ...`). */
export const cliFromSource = (args: ReadonlyArray<string>, env: Readonly<Record<string, string>> = {}): Promise<Ran> =>
  spawnCli(["--import", "tsx", "src/operations/cli/bin.ts"], args, env).ran

const { version } = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { readonly version: string }

/**
 * `effect-ddd ...args` run in this process: the program the bin runs (`Cli.exitCode`), its
 * console output captured, `DATABASE_URL` only if given in `env`; never rejects. What only the
 * process does (loading, exiting with the code) is tested with `cli`.
 */
export const cliInProcess = async (
  args: ReadonlyArray<string>,
  env: Readonly<Record<string, string>> = {}
): Promise<Ran> => {
  let stdout = ""
  let stderr = ""
  const out = (...parts: ReadonlyArray<unknown>) => void (stdout += `${format(...parts)}\n`)
  const err = (...parts: ReadonlyArray<unknown>) => void (stderr += `${format(...parts)}\n`)
  const code = await Effect.runPromise(
    Effect.consoleWith((current) =>
      exitCode(version)(["node", "effect-ddd", ...args]).pipe(
        Effect.withConsole({
          ...current,
          log: (...parts) => Effect.sync(() => out(...parts)),
          info: (...parts) => Effect.sync(() => out(...parts)),
          error: (...parts) => Effect.sync(() => err(...parts)),
          warn: (...parts) => Effect.sync(() => err(...parts)),
          unsafe: { ...current.unsafe, log: out, info: out, error: err, warn: err }
        }),
        Effect.provide(Logger.replace(Logger.defaultLogger, Logger.withConsoleLog(Logger.logfmtLogger))),
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)))),
        Effect.provide(NodeContext.layer)
      )
    )
  )
  return { code, stdout, stderr }
}

/** The JSON a command printed with `--json`. */
export const parsed = <A = any>(ran: Ran): A => {
  try {
    return JSON.parse(ran.stdout) as A
  } catch {
    throw new Error(`not JSON (exit ${ran.code}):\n${ran.stdout}\n${ran.stderr}`)
  }
}

/** A stack trace line, which the CLI never prints. */
export const stackTrace = /^\s+at .+:\d+:\d+\)?$/m
