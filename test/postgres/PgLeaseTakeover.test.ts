/**
 * Two relay processes on one PostgreSQL database (test/support/relayProcess.ts): A holds the four
 * partitions, B waits; A is killed (SIGKILL) while commands are being written and delivered, and
 * B takes the partitions over once A's leases expire. Every delivery is recorded in the same
 * database with the checkpoint (a restock of `<sku>-ledger`), so each SKU's ledger must equal its
 * restocks exactly: nothing lost in the takeover, nothing delivered twice.
 */
import { PgClient } from "@effect/sql-pg"
import { describe, expect, it } from "@effect/vitest"
import { type Duration, Effect, Layer, Redacted, Schedule } from "effect"
import { CommandHandler } from "effect-ddd"
import { SqlEventStore } from "effect-ddd/sql"
import { PgWakeup } from "effect-ddd/sql/pg"
import { type ChildProcess, spawn } from "node:child_process"
import { randomUUID } from "node:crypto"
import { fileURLToPath } from "node:url"
import { Inventory } from "../../examples/http-server/Domain/Inventory.js"
import { Sku } from "../../examples/http-server/Domain/Order.js"
import * as CommitSignal from "../../src/runtime/internal/commitSignal.js"
import { freshDatabase } from "../support/database.js"
import { delivery, type Stores } from "../support/stores.js"

const root = fileURLToPath(new URL("../..", import.meta.url))

const LEASE_TTL = 1_500
const SKUS = 40
const COMMANDS = 400

interface RelayProcess {
  readonly owner: string
  readonly child: ChildProcess
  /** Everything the process wrote on stdout and stderr so far. */
  readonly output: () => string
  readonly exited: Effect.Effect<void>
}

/** Start test/support/relayProcess.ts and wait for its `started` line; SIGKILLed when the scope closes. */
const startRelay = (env: { DATABASE_URL: string; SUBSCRIPTION: string; OWNER: string }) =>
  Effect.gen(function*() {
    let output = ""
    const child = yield* Effect.acquireRelease(
      Effect.sync(() =>
        spawn(process.execPath, ["--import", "tsx", "test/support/relayProcess.ts"], {
          cwd: root,
          env: { ...process.env, ...env, LEASE_TTL: String(LEASE_TTL) },
          stdio: ["ignore", "pipe", "pipe"]
        })
      ),
      (child) =>
        Effect.sync(() => {
          if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
        })
    )
    const exitedPromise = new Promise<void>((resolve) => child.once("exit", () => resolve()))
    child.stdout!.setEncoding("utf8").on("data", (data: string) => (output += data))
    child.stderr!.setEncoding("utf8").on("data", (data: string) => (output += data))
    const process_: RelayProcess = {
      owner: env.OWNER,
      child,
      output: () => output,
      exited: Effect.promise(() => exitedPromise)
    }
    yield* Effect.async<void, Error>((resume) => {
      const check = () => {
        if (output.includes(`started ${env.OWNER}`)) resume(Effect.void)
      }
      const onExit = (code: number | null, signal: string | null) =>
        resume(Effect.fail(new Error(`relay ${env.OWNER} exited (${code ?? signal}) before starting:\n${output}`)))
      child.stdout!.on("data", check)
      child.once("exit", onExit)
      check()
      return Effect.sync(() => {
        child.stdout!.off("data", check)
        child.off("exit", onExit)
      })
    }).pipe(
      Effect.timeoutFail({
        duration: "60 seconds",
        onTimeout: () => new Error(`relay ${env.OWNER} did not start:\n${output}`)
      })
    )
    return process_
  })

const expectEffect = (f: () => void) => Effect.try({ try: f, catch: (error) => error })
const eventually = <A, E, R>(check: Effect.Effect<A, E, R>, timeout: Duration.DurationInput) =>
  Effect.retry(check, Schedule.spaced("50 millis").pipe(Schedule.upTo(timeout)))

describe("Relay lease takeover across processes (PostgreSQL)", () => {
  it.live(
    "A is killed mid-stream; B takes its partitions over; every event delivered exactly once",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const url = yield* Effect.promise(() => freshDatabase("lease_takeover"))
        const subscription = `ledger-${randomUUID()}`
        // this process writes the commands: its own handler, store and wake-up (migrations run here first)
        const context = yield* Layer.build(
          CommandHandler.layer().pipe(
            Layer.provideMerge(SqlEventStore.layer()),
            Layer.provideMerge(
              PgWakeup.layer().pipe(
                Layer.provideMerge(PgClient.layer({ url: Redacted.make(url), maxConnections: 8 }))
              )
            ),
            Layer.provide(Layer.succeed(CommitSignal.CommitSignal, CommitSignal.unsafeMake()))
          )
        )
        const run = <A, E>(effect: Effect.Effect<A, E, CommandHandler.CommandHandler | Stores>) =>
          Effect.provide(effect, context)
        const leases = run(Effect.flatMap(delivery, ({ checkpoints }) => checkpoints.leases(subscription)))

        // A first, until it holds all four partitions; then B, which can only wait
        const a = yield* startRelay({ DATABASE_URL: url, SUBSCRIPTION: subscription, OWNER: "relay-a" })
        const heldByA = yield* eventually(
          Effect.flatMap(leases, (held) =>
            expectEffect(() => {
              expect(held.map((l) => [l.partition, l.owner, l.token])).toEqual(
                [0, 1, 2, 3].map((p) => [p, "relay-a", 1])
              )
            }).pipe(Effect.as(held.map((l) => l.partition)))),
          "20 seconds"
        )
        const b = yield* startRelay({ DATABASE_URL: url, SUBSCRIPTION: subscription, OWNER: "relay-b" })

        // 400 restocks on 40 SKUs, 4 at a time; A is killed after the first third, writing goes on
        const skus = Array.from({ length: SKUS }, (_, i) => Sku.make(`sku-${i}`))
        const expected = new Map<string, { total: number; count: number }>(
          skus.map((sku) => [sku, { total: 0, count: 0 }])
        )
        let written = 0
        let killedAt: {
          readonly after: number
          readonly written: number
          readonly restocked: number
          readonly ledger: number
        } | undefined
        const restocked = () => [...expected.values()].reduce((sum, e) => sum + e.total, 0)
        const ledgerTotal = run(Effect.map(
          Effect.forEach(skus, (sku) => CommandHandler.load(Inventory, Sku.make(`${sku}-ledger`))),
          (ledgers) => ledgers.reduce((sum, l) => sum + l.state.available, 0)
        ))
        yield* Effect.forEach(Array.from({ length: COMMANDS }, (_, i) => i), (i) =>
          Effect.gen(function*() {
            const sku = skus[i % SKUS]!
            const quantity = 1 + (i % 7)
            yield* run(CommandHandler.execute(Inventory, sku, "restock", { quantity }))
            const entry = expected.get(sku)!
            entry.total += quantity
            entry.count += 1
            if (++written === Math.floor(COMMANDS / 3)) {
              const after = written
              a.child.kill("SIGKILL")
              yield* a.exited
              // B cannot hold a lease before A's expire: this much was delivered by A
              const ledger = yield* ledgerTotal
              killedAt = { after, written, restocked: restocked(), ledger }
            }
          }), { concurrency: 4, discard: true })
        expect(a.child.signalCode).toBe("SIGKILL")

        // quiet: every ledger equals its SKU's restocks, and stays so
        const check = Effect.gen(function*() {
          const rows = yield* run(Effect.forEach(skus, (sku) =>
            Effect.all([
              CommandHandler.load(Inventory, sku),
              CommandHandler.load(Inventory, Sku.make(`${sku}-ledger`))
            ])))
          yield* expectEffect(() => {
            for (const [source, ledger] of rows) {
              const want = expected.get(source.id)!
              expect([source.id, source.state.available, source.version]).toEqual([source.id, want.total, want.count])
              // one ledger restock per delivered event, by the same quantity
              expect([`${source.id}-ledger`, ledger.state.available, ledger.version]).toEqual([
                ledger.id,
                want.total,
                want.count
              ])
            }
          })
        })
        const quiet = eventually(check, "60 seconds").pipe(
          Effect.tapError(() => Effect.sync(() => console.log(`relay-a:\n${a.output()}\nrelay-b:\n${b.output()}`)))
        )
        yield* quiet
        // and stays so: one more restock of every SKU (every partition) is delivered once, after
        // anything that could still be delivered twice
        yield* Effect.forEach(skus, (sku) =>
          Effect.gen(function*() {
            yield* run(CommandHandler.execute(Inventory, sku, "restock", { quantity: 1 }))
            const entry = expected.get(sku)!
            entry.total += 1
            entry.count += 1
          }), { concurrency: 4, discard: true })
        yield* quiet

        // B holds every partition, each taken over from A with a new fencing token, and renews them
        const final = yield* leases
        expect(final.map((l) => [l.partition, l.owner])).toEqual([0, 1, 2, 3].map((p) => [p, "relay-b"]))
        for (const lease of final) {
          if (heldByA.includes(lease.partition)) expect(lease.token).toBeGreaterThan(1)
        }
        yield* eventually(
          Effect.flatMap(leases, (renewed) =>
            expectEffect(() => {
              expect(renewed.map((l) => [l.partition, l.owner, l.token])).toEqual(
                final.map((l) => [l.partition, l.owner, l.token])
              )
              renewed.forEach((l, i) => expect(l.expiresAt).toBeGreaterThan(final[i]!.expiresAt))
            })),
          "30 seconds"
        )
        expect(b.child.exitCode).toBe(null)
        console.log(
          `A killed after ${killedAt?.after} of ${COMMANDS} commands; when it was gone, ${killedAt?.written} were written and ` +
            `A had delivered ${killedAt?.ledger} of ${killedAt?.restocked} restocked units (all: ${restocked()}); ` +
            `tokens after takeover: ${final.map((l) => l.token).join(", ")}`
        )
      })).pipe(Effect.timeout("240 seconds")),
    300_000
  )
})
