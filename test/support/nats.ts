/**
 * A throwaway `nats-server -js` on 127.0.0.1, a free port and a temporary store directory, for a
 * test file (`natsServer` in a scoped layer, or `startNatsServer` in beforeAll/afterAll) or a
 * benchmark. It can be stopped and started again on the same port and store (a restart), and is
 * killed when the process exits, even by SIGKILL (a watchdog shell outlives us for that).
 *
 * The binary: `NATS_SERVER_BIN`, else `nats-server` on PATH, else /usr/sbin/nats-server (Debian's
 * package). When there is none, starting fails with a message saying how to install it: tests
 * that need the server fail, they never skip. Must not import vitest (the benchmarks use it).
 */
import { Context, Effect, Layer } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { accessSync, constants, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { delimiter, join } from "node:path"
import { freePort } from "./freePort.js"

export const installHint = "Install it with `apt-get install nats-server` (Debian's package), " +
  "or point NATS_SERVER_BIN at a nats-server binary."

const isExecutable = (path: string): boolean => {
  try {
    accessSync(path, constants.X_OK)
    return true
  } catch {
    return false
  }
}

/** Where the binary is, or an error naming where it was looked for. */
export const findNatsServer = (): string => {
  const forced = process.env["NATS_SERVER_BIN"]
  if (forced !== undefined && forced !== "") {
    if (isExecutable(forced)) return forced
    throw new Error(`NATS_SERVER_BIN=${forced} is not an executable file. ${installHint}`)
  }
  const candidates = [
    ...(process.env["PATH"] ?? "").split(delimiter).filter((d) => d !== "").map((d) => join(d, "nats-server")),
    "/usr/sbin/nats-server"
  ]
  const found = candidates.find(isExecutable)
  if (found === undefined) {
    throw new Error(
      `nats-server is required by these tests but was not found on PATH or at /usr/sbin/nats-server. ${installHint}`
    )
  }
  return found
}

export interface NatsServer {
  readonly url: string
  readonly port: number
  readonly storeDir: string
  /** SIGTERM (a graceful shutdown: JetStream state is flushed); resolves once it exited. */
  readonly stop: () => Promise<void>
  /** SIGKILL: a crash. */
  readonly kill: () => Promise<void>
  /** Starts it again on the same port and store directory. */
  readonly start: () => Promise<void>
  /** Stops it and removes its directory. */
  readonly dispose: () => Promise<void>
}

export const startNatsServer = async (): Promise<NatsServer> => {
  const bin = findNatsServer()
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), "effect-ddd-nats-"))
  const storeDir = join(dir, "store")
  const args = ["-js", "-a", "127.0.0.1", "-p", String(port), "-sd", storeDir]
  let child: ChildProcess | undefined
  let watchdog: ChildProcess | undefined
  const killNow = () => {
    try {
      child?.kill("SIGKILL")
    } catch {
      // gone
    }
  }
  process.once("exit", killNow)

  const start = () =>
    new Promise<void>((resolve, reject) => {
      const p = spawn(bin, args, { stdio: ["ignore", "ignore", "pipe"] })
      child = p
      let log = ""
      const timer = setTimeout(() => {
        p.kill("SIGKILL")
        reject(new Error(`nats-server did not become ready within 20 s:\n${log}`))
      }, 20_000)
      p.stderr?.on("data", (chunk: Buffer) => {
        log += chunk.toString()
        if (log.includes("Server is ready")) {
          clearTimeout(timer)
          resolve()
        }
      })
      p.once("error", (error) => {
        clearTimeout(timer)
        reject(new Error(`cannot start ${bin}: ${error.message}. ${installHint}`))
      })
      p.once("exit", (code, signal) => {
        clearTimeout(timer)
        if (!log.includes("Server is ready")) reject(new Error(`nats-server exited (${code ?? signal}):\n${log}`))
      })
      // a shell that outlives this process if it is SIGKILLed, and kills the server then
      watchdog?.kill("SIGKILL")
      watchdog = spawn("/bin/sh", [
        "-c",
        `while kill -0 ${process.pid} 2>/dev/null && kill -0 ${p.pid} 2>/dev/null; do sleep 1; done; kill -9 ${p.pid} 2>/dev/null`
      ], { cwd: "/", detached: true, stdio: "ignore" })
      watchdog.on("error", () => {})
      watchdog.unref()
    })

  const signal = (sig: NodeJS.Signals) => () =>
    new Promise<void>((resolve) => {
      const p = child
      if (p === undefined || p.exitCode !== null || p.signalCode !== null) return resolve()
      const force = setTimeout(() => p.kill("SIGKILL"), 10_000)
      p.once("exit", () => {
        clearTimeout(force)
        resolve()
      })
      p.kill(sig)
    })
  const stop = signal("SIGTERM")

  await start()
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    stop,
    kill: signal("SIGKILL"),
    start,
    dispose: async () => {
      await stop()
      watchdog?.kill("SIGKILL")
      process.removeListener("exit", killNow)
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

/** The server of a test file. */
export class NatsServerService extends Context.Tag("test/NatsServer")<NatsServerService, NatsServer>() {}

/** A server for the life of a layer (a test file's `layer(...)`). */
export const natsServer: Layer.Layer<NatsServerService> = Layer.scoped(
  NatsServerService,
  Effect.acquireRelease(Effect.promise(startNatsServer), (server) => Effect.promise(server.dispose))
)
