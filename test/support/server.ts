/**
 * The example server as users run it: `examples/http-server/main.ts` in a child process, on a
 * free port (`PORT=0`, read back from its "Listening on" log line), spoken to over real HTTP.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync } from "node:fs"
import { type IncomingHttpHeaders, request as httpRequest } from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("../..", import.meta.url))

export interface Server {
  readonly url: string
  readonly child: ChildProcess
  /** Everything the process wrote on stdout and stderr so far. */
  readonly output: () => string
  /** Resolves with the exit code (or the signal) once the process has exited. */
  readonly exited: Promise<number | string>
  /** Send a signal and wait for the exit. */
  readonly stop: (signal?: NodeJS.Signals) => Promise<number | string>
}

const running = new Set<ChildProcess>()
process.once("exit", () => {
  for (const child of running) child.kill("SIGKILL")
})

/** A new, empty directory for a server's SQLite file. */
export const tempDataDir = (): string => mkdtempSync(join(tmpdir(), "http-server-"))

/** The server's settings, never inherited from the test's own environment. */
const settings = [
  "DATABASE_URL",
  "ADMIN_TOKEN",
  "PAYMENT_GATEWAY_URL",
  "PAYMENT_TIMEOUT",
  "OTEL_EXPORTER_OTLP_ENDPOINT",
  "LOG_FORMAT"
]

/**
 * Start the server with the given environment (`DATA_DIR` or `DATABASE_URL`, and others). Its
 * payment deadline is 10 minutes unless given: a loaded machine must not reach it in a test that is
 * not about it.
 */
export const startServer = (
  env: Readonly<Record<string, string>>,
  command: ReadonlyArray<string> = [process.execPath, "--import", "tsx", "examples/http-server/main.ts"]
): Promise<Server> => {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !settings.includes(name)))
  const child = spawn(command[0]!, command.slice(1), {
    cwd: root,
    env: { ...inherited, PORT: "0", PAYMENT_TIMEOUT: "10 minutes", ...env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  running.add(child)
  let output = ""
  child.stdout!.setEncoding("utf8").on("data", (data: string) => (output += data))
  child.stderr!.setEncoding("utf8").on("data", (data: string) => (output += data))
  const exited = new Promise<number | string>((resolve) =>
    child.once("exit", (code, signal) => {
      running.delete(child)
      resolve(code ?? signal ?? "unknown")
    })
  )
  const stop = (signal: NodeJS.Signals = "SIGTERM") => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal)
    return exited
  }
  return new Promise<Server>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL")
      reject(new Error(`the server did not start within 60 s:\n${output}`))
    }, 60_000)
    const check = () => {
      const port = /Listening on http:\/\/[^\s:]+:(\d+)/.exec(output)?.[1]
      if (port === undefined) return
      clearTimeout(timer)
      child.stdout!.off("data", check)
      resolve({ url: `http://127.0.0.1:${port}`, child, output: () => output, exited, stop })
    }
    child.stdout!.on("data", check)
    void exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`the server exited (${code}) before listening:\n${output}`))
    })
  })
}

export interface Answer {
  readonly status: number
  readonly contentType: string | null
  readonly body: any
}

/** One JSON request; the answer's body parsed as JSON (or the raw text when it is not JSON). */
export const request = async (
  server: { readonly url: string },
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {}
): Promise<Answer> => {
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers: body === undefined ? headers : { "content-type": "application/json", ...headers },
    ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) })
  })
  return readAnswer(response)
}

/** A response's status, content type and body: parsed JSON, or the raw text (which checks refuse). */
export const readAnswer = async (response: Response): Promise<Answer> => {
  const text = await response.text()
  let parsed: unknown = text
  try {
    parsed = JSON.parse(text)
  } catch {
    // not JSON: kept as text
  }
  return { status: response.status, contentType: response.headers.get("content-type"), body: parsed }
}

/** Poll an order until it leaves `pending` (the bound, 60 s unless told, only ends a hang). */
export const settled = async (server: { readonly url: string }, orderId: string, timeout = 60_000): Promise<any> => {
  const deadline = Date.now() + timeout
  while (true) {
    const answer = await request(server, "GET", `/orders/${orderId}`)
    if (answer.status !== 200) {
      throw new Error(`GET /orders/${orderId}: ${answer.status} ${JSON.stringify(answer.body)}`)
    }
    if (answer.body.status !== "pending") return answer.body
    if (Date.now() > deadline) throw new Error(`order ${orderId} is still pending after ${timeout} ms`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** Poll until `check` passes; the last failure is thrown after 30 s (unless told), a hang. */
export const eventually = async <A>(check: () => Promise<A>, timeout = 30_000): Promise<A> => {
  const deadline = Date.now() + timeout
  while (true) {
    try {
      return await check()
    } catch (error) {
      if (Date.now() > deadline) throw error
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  }
}

/**
 * One request through `node:http`, which sends exactly the headers given (no content type of its
 * own) and the body in the chunks given; the answer's headers too.
 */
export const rawRequest = (
  server: { readonly url: string },
  options: {
    readonly method: string
    readonly path: string
    readonly headers?: Record<string, string>
    readonly chunks?: ReadonlyArray<string>
  }
): Promise<Answer & { readonly headers: IncomingHttpHeaders }> =>
  new Promise((resolve, reject) => {
    const { port } = new URL(server.url)
    const req = httpRequest(
      { host: "127.0.0.1", port, method: options.method, path: options.path, headers: options.headers ?? {} },
      (res) => {
        let text = ""
        res.setEncoding("utf8").on("data", (data: string) => (text += data)).on("end", () => {
          let body: unknown = text
          try {
            body = JSON.parse(text)
          } catch {
            // not JSON: the raw text is returned
          }
          resolve({
            status: res.statusCode!,
            contentType: res.headers["content-type"] ?? null,
            body,
            headers: res.headers
          })
        })
      }
    )
    req.on("error", reject)
    for (const chunk of options.chunks ?? []) req.write(chunk)
    req.end()
  })
