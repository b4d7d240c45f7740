/**
 * The learning platform as users run it: `examples/learning-platform/main.ts` (what
 * `npm run start:platform` runs) in a process group of its own, every service on a free port
 * (`PORT=0`, read back from the services' "Listening on" log lines), spoken to over real HTTP.
 * The whole group is killed when the test process exits.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { createServer } from "node:net"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("../..", import.meta.url))

export const services = ["catalog", "accounts", "notifications", "discovery"] as const
export type ServiceName = (typeof services)[number]

export interface Platform {
  /** Each service's base URL. */
  readonly urls: Readonly<Record<ServiceName, string>>
  readonly ports: Readonly<Record<ServiceName, number>>
  readonly child: ChildProcess
  /** Everything the platform wrote so far (each service's lines prefixed with its name). */
  readonly output: () => string
  /** Resolves with the exit code (or the signal) of the command once it has exited. */
  readonly exited: Promise<number | string>
  /** A signal to the command only (as `kill <pid>` does). */
  readonly signal: (signal: NodeJS.Signals) => void
  /** A signal to the whole process group (as a terminal's Ctrl-C, or `kill -- -<pgid>`). */
  readonly signalGroup: (signal: NodeJS.Signals) => void
}

const groups = new Set<number>()
process.once("exit", () => {
  for (const pgid of groups) {
    try {
      process.kill(-pgid, "SIGKILL")
    } catch {
      // gone
    }
  }
})

/** The platform's settings, never inherited from the test's own environment. */
const settings = ["PORT", "DATA_DIR", "NATS_URL", "NATS_PORT", "ADMIN_TOKEN", "OTEL_EXPORTER_OTLP_ENDPOINT"]

/** Start the platform with the given environment (`DATA_DIR`, `NATS_URL` or `NATS_PORT`, database URLs). */
export const startPlatform = (env: Readonly<Record<string, string>>): Promise<Platform> => {
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !settings.includes(name) && !name.endsWith("_DATABASE_URL"))
  )
  const child = spawn(process.execPath, ["--import", "tsx", "examples/learning-platform/main.ts"], {
    cwd: root,
    env: { ...inherited, PORT: "0", ...env },
    stdio: ["ignore", "pipe", "pipe"],
    // a process group of its own: the test signals it as a terminal would
    detached: true
  })
  const pgid = child.pid!
  groups.add(pgid)
  let output = ""
  child.stdout!.setEncoding("utf8").on("data", (data: string) => (output += data))
  child.stderr!.setEncoding("utf8").on("data", (data: string) => (output += data))
  const exited = new Promise<number | string>((resolve) =>
    child.once("exit", (code, signal) => resolve(code ?? signal ?? "unknown"))
  )
  const signalGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-pgid, signal)
    } catch {
      // gone
    }
  }
  return new Promise<Platform>((resolve, reject) => {
    const timer = setTimeout(() => {
      signalGroup("SIGKILL")
      reject(new Error(`the platform did not start within 90 s:\n${output}`))
    }, 90_000)
    const check = () => {
      const ports = Object.fromEntries(services.map((name) => [
        name,
        Number(new RegExp(`^\\[${name}\\] .*Listening on http://[^\\s:]+:(\\d+)`, "m").exec(output)?.[1] ?? 0)
      ])) as Record<ServiceName, number>
      if (services.some((name) => ports[name] === 0)) return
      clearTimeout(timer)
      child.stdout!.off("data", check)
      resolve({
        urls: Object.fromEntries(services.map((name) => [name, `http://127.0.0.1:${ports[name]}`])) as Record<
          ServiceName,
          string
        >,
        ports,
        child,
        output: () => output,
        exited,
        signal: (signal) => {
          if (child.exitCode === null && child.signalCode === null) child.kill(signal)
        },
        signalGroup
      })
    }
    child.stdout!.on("data", check)
    void exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`the platform exited (${code}) before every service listened:\n${output}`))
    })
  })
}

/** Whether nothing listens on the port any more: it can be bound again. */
export const isFree = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const server = createServer()
    server.once("error", () => resolve(false))
    server.listen(port, () => server.close(() => resolve(true)))
  })
