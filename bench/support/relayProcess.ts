/**
 * The relay side of `latency.pg.xproc` (started by `bench/relay.ts` with an IPC channel): runs a
 * relay on PostgreSQL with the probe subscription and reports each `lat-*` event to the parent,
 * with the time the handler was called (`now()`, calibrated by ping/pong).
 *
 * Env: RELAY_DATABASE_URL; RELAY_WAKEUP=1 to add `PgWakeup` (LISTEN/NOTIFY, polling every second
 * as the fallback), else it polls every 10 ms.
 */
import { PgClient } from "@effect/sql-pg"
import { Effect, Layer, Redacted } from "effect"
import { Relay, Telemetry } from "effect-ddd"
import { SqlEventStore } from "effect-ddd/sql"
import { PgWakeup } from "effect-ddd/sql/pg"
import { now, probe, type RelayMessage } from "../relay.js"

const url = process.env["RELAY_DATABASE_URL"]
if (url === undefined || process.send === undefined) throw new Error("relayProcess.ts is started by bench/relay.ts")
const send = (message: RelayMessage) => process.send!(message)

process.on("message", (message: { readonly type: string; readonly t1: number }) => {
  if (message.type === "ping") send({ type: "pong", t1: message.t1, t2: now() })
})
process.on("disconnect", () => process.exit(0))

const client = PgClient.layer({ url: Redacted.make(url), maxConnections: 4 })
const wakeup = process.env["RELAY_WAKEUP"] === "1"
const relay = Relay.layer({
  subscriptions: [probe("latency", (id, at) => send({ type: "handled", id, at }))],
  pollInterval: wakeup ? "1 second" : "10 millis"
}).pipe(
  Layer.provideMerge(SqlEventStore.layer()),
  Layer.provideMerge(wakeup ? Layer.provideMerge(PgWakeup.layer(), client) : client),
  Layer.provideMerge(Telemetry.disabled)
)

Effect.runFork(Effect.scoped(Effect.gen(function*() {
  yield* Layer.build(relay)
  send({ type: "ready" })
  return yield* Effect.never
})))
