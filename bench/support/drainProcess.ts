/**
 * One side of `relay.sqlite.drain1m`, in a fresh process so its RSS starts clean (started by
 * `bench/relay.ts` with `--expose-gc` and an IPC channel): drains the pre-filled SQLite log with
 * the relay (DRAIN_MODE=relay) or the raw better-sqlite3 page loop (DRAIN_MODE=raw), samples the
 * RSS during the drain and sends a `DrainResult` to the parent.
 *
 * Env: DRAIN_FILE, DRAIN_MODE, DRAIN_EVENTS, DRAIN_TIMEOUT (seconds, relay only).
 */
import { Effect } from "effect"
import { type DrainResult, rawSqliteDrain, sqliteStore, synchronousNormal, timeRelay } from "../relay.js"

const file = process.env["DRAIN_FILE"]
const mode = process.env["DRAIN_MODE"]
const total = Number(process.env["DRAIN_EVENTS"])
const timeout = Number(process.env["DRAIN_TIMEOUT"] ?? 150)
if (file === undefined || process.send === undefined) throw new Error("drainProcess.ts is started by bench/relay.ts")

let start = 0
let peak = 0
const sample = () => {
  const rss = process.memoryUsage.rss()
  if (rss > peak) peak = rss
}
const begin = () => {
  ;(globalThis as { gc?: () => void }).gc?.()
  start = process.memoryUsage.rss()
  peak = start
}
const mb = (bytes: number) => bytes / (1024 * 1024)

const run = async (): Promise<DrainResult> => {
  if (mode === "raw") {
    begin()
    const rate = rawSqliteDrain(file, total, sample)
    return { seconds: total / rate, delivered: total, complete: true, rssMb: mb(peak - start) }
  }
  return Effect.runPromise(
    Effect.gen(function*() {
      yield* synchronousNormal
      begin()
      // a timer as well as the handler: it runs whenever the relay lets the event loop turn
      const timer = setInterval(sample, 20)
      const result = yield* Effect.ensuring(
        timeRelay("drain", 1, total, { onCall: (calls) => calls % 1000 === 0 && sample(), timeout }),
        Effect.sync(() => clearInterval(timer))
      )
      sample()
      return {
        seconds: result.seconds,
        delivered: result.delivered,
        complete: result.complete,
        rssMb: mb(peak - start)
      }
    }).pipe(Effect.provide(sqliteStore(file)))
  )
}

const result = await run()
process.send(result, () => process.exit(0))
