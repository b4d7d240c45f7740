/**
 * The learning platform (`npm run start:platform`): the four services, each its own process with
 * its own database, talking only through NATS. Catalog listens on `PORT`+1, accounts on +2,
 * notifications on +3, discovery on +4 (`PORT` defaults to 3100; `PORT=0` gives each a free
 * port). With `NATS_URL` the services use that server; without, a local `nats-server -js` is
 * started on 127.0.0.1 (`NATS_PORT`, default 4222) with its store under `DATA_DIR` (default
 * `./data`), beside the services' SQLite files.
 *
 * Every process stays in this command's process group, so a signal to the group reaches each.
 * SIGINT or SIGTERM stop the services gracefully, then the NATS server; if a service stops on
 * its own, the others are stopped too and the command fails.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { accessSync, constants, mkdirSync } from "node:fs"
import { delimiter, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"

const services = ["catalog", "accounts", "notifications", "discovery"] as const

const env = process.env
const dataDir = resolve(env["DATA_DIR"] ?? "data")
const basePort = Number(env["PORT"] ?? "3100")
if (!Number.isInteger(basePort) || basePort < 0 || basePort > 65531) {
  console.error(
    `PORT must be an integer between 0 and 65531 (the services listen on PORT+1..PORT+4), not ${env["PORT"]}`
  )
  process.exit(1)
}

/** Every line a process writes, prefixed with its name. */
const prefixed = (name: string, child: ChildProcess, onLine: (line: string) => void = () => {}) => {
  for (const [stream, out] of [[child.stdout, process.stdout], [child.stderr, process.stderr]] as const) {
    let pending = ""
    stream?.setEncoding("utf8").on("data", (chunk: string) => {
      const lines = (pending + chunk).split("\n")
      pending = lines.pop()!
      for (const line of lines) {
        out.write(`[${name}] ${line}\n`)
        onLine(line)
      }
    })
  }
}

const exited = (child: ChildProcess) =>
  new Promise<void>((done) => {
    if (child.exitCode !== null || child.signalCode !== null) return done()
    child.once("exit", () => done())
  })

const isExecutable = (path: string) => {
  try {
    accessSync(path, constants.X_OK)
    return true
  } catch {
    return false
  }
}

/** `NATS_SERVER_BIN` when set, else `nats-server` on PATH, else Debian's /usr/sbin/nats-server. */
const natsServerBinary = (): string | undefined => {
  const forced = env["NATS_SERVER_BIN"]
  if (forced !== undefined && forced !== "") return isExecutable(forced) ? forced : undefined
  return [
    ...(env["PATH"] ?? "").split(delimiter).filter((d) => d !== "").map((d) => join(d, "nats-server")),
    "/usr/sbin/nats-server"
  ].find(isExecutable)
}

/** A local NATS server with JetStream, its store under `DATA_DIR`; resolves once it is ready. */
const startNats = (): Promise<{ readonly url: string; readonly child: ChildProcess }> => {
  const bin = natsServerBinary()
  if (bin === undefined) {
    console.error(
      `nats-server was not found (${
        env["NATS_SERVER_BIN"]
          ? `NATS_SERVER_BIN=${env["NATS_SERVER_BIN"]} is not executable`
          : "PATH, /usr/sbin/nats-server"
      }). Install it ` +
        "(`apt-get install nats-server`, or https://github.com/nats-io/nats-server/releases), " +
        "or set NATS_URL to a running server with JetStream."
    )
    process.exit(1)
  }
  const port = env["NATS_PORT"] ?? "4222"
  const child = spawn(bin, ["-js", "-a", "127.0.0.1", "-p", port, "-sd", join(dataDir, "nats")], {
    stdio: ["ignore", "pipe", "pipe"]
  })
  return new Promise((ready, failed) => {
    prefixed("nats", child, (line) => {
      if (line.includes("Server is ready")) ready({ url: `nats://127.0.0.1:${port}`, child })
    })
    child.once("error", (error) => failed(new Error(`cannot start ${bin}: ${error.message}`)))
    child.once(
      "exit",
      (code, signal) => failed(new Error(`nats-server exited (${code ?? signal}) before it was ready`))
    )
  })
}

const main = async () => {
  mkdirSync(dataDir, { recursive: true })
  let stopping = false
  const children: Array<{ readonly name: string; readonly child: ChildProcess }> = []
  let nats: ChildProcess | undefined

  /** Stop the services, wait for them, then the NATS server we started. */
  const stop = async (code: number) => {
    if (stopping) return
    stopping = true
    for (const { child } of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM")
    await Promise.all(children.map(({ child }) => exited(child)))
    if (nats !== undefined) {
      nats.kill("SIGTERM")
      await exited(nats)
    }
    console.log("platform: stopped")
    process.exit(code)
  }
  process.on("SIGINT", () => void stop(0))
  process.on("SIGTERM", () => void stop(0))

  let natsUrl = env["NATS_URL"]
  if (natsUrl === undefined || natsUrl === "") {
    const local = await startNats().catch((error: Error) => {
      console.error(`platform: ${error.message}`)
      return process.exit(1)
    })
    nats = local.child
    natsUrl = local.url
    void exited(nats).then(() => {
      if (!stopping) {
        console.error("platform: nats-server stopped; stopping the services")
        void stop(1)
      }
    })
  }
  if (stopping) return

  services.forEach((name, i) => {
    const entry = fileURLToPath(new URL(`./${name}/main.ts`, import.meta.url))
    const child = spawn(process.execPath, [...process.execArgv, entry], {
      env: { ...env, DATA_DIR: dataDir, NATS_URL: natsUrl, PORT: String(basePort === 0 ? 0 : basePort + i + 1) },
      stdio: ["ignore", "pipe", "pipe"]
    })
    prefixed(name, child)
    children.push({ name, child })
    void exited(child).then(() => {
      if (!stopping) {
        console.error(`platform: ${name} stopped (${child.exitCode ?? child.signalCode}); stopping the others`)
        void stop(1)
      }
    })
  })
  console.log(`platform: started ${services.join(", ")} (data in ${dataDir}, broker ${natsUrl})`)
}

void main()
