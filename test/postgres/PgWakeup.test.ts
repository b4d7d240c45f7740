/**
 * PgWakeup: two PostgreSQL pools on one database stand in for two processes, each with its own
 * CommitSignal and its own PgWakeup layer.
 */
import { PgClient } from "@effect/sql-pg"
import { describe, expect, it } from "@effect/vitest"
import { Context, type Duration, Effect, Fiber, Layer, Option, Redacted, Stream } from "effect"
import { CommitSignal } from "effect-ddd"
import { PgWakeup } from "effect-ddd/sql"
import { freshDatabase } from "../support/database.js"

interface Side {
  readonly signal: CommitSignal.Service
  /** How many times a notification from elsewhere woke this side. */
  readonly remoteWakes: () => number
  readonly pg: PgClient.PgClient
}

/** A "process": its own pool, its own signal (wake counted) and its own PgWakeup layer. */
const side = (url: string, options: PgWakeup.Options = {}) =>
  Effect.gen(function*() {
    const base = CommitSignal.unsafeMake()
    let wakes = 0
    const signal: CommitSignal.Service = {
      ...base,
      wake: Effect.zipRight(
        Effect.sync(() => {
          wakes++
        }),
        base.wake
      )
    }
    const context = yield* Layer.build(
      PgWakeup.layer(options).pipe(
        Layer.provideMerge(PgClient.layer({ url: Redacted.make(url), maxConnections: 4 })),
        Layer.provide(Layer.succeed(CommitSignal.CommitSignal, signal))
      )
    )
    return { signal, remoteWakes: () => wakes, pg: Context.get(context, PgClient.PgClient) } satisfies Side
  })

/** The event loop's next turn (after pending I/O). */
const nextTurn = Effect.async<void>((resume) => {
  const handle = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(handle))
})

/** Did `wait` (taken before) complete within `timeout`? */
const wokeWithin = (wait: Effect.Effect<void>, timeout: Duration.DurationInput) =>
  Effect.map(Effect.timeoutOption(wait, timeout), Option.isSome)

/** Count the notifications on the channel as seen by a raw listener on `pg`; started before returning. */
const countNotifications = (pg: PgClient.PgClient, channel = PgWakeup.defaultChannel) =>
  Effect.gen(function*() {
    const payloads: Array<string> = []
    yield* Effect.forkScoped(
      Stream.runForEach(pg.listen(channel), (payload) => Effect.sync(() => payloads.push(payload)))
    )
    // LISTEN is sent when the stream starts: ping until this listener hears something (PgWakeup
    // ignores "ping:" payloads)
    while (payloads.length === 0) {
      yield* pg`SELECT pg_notify(${channel}, ${"ping:counter"})`
      yield* Effect.sleep("10 millis")
    }
    yield* Effect.sleep("100 millis")
    const offset = payloads.length
    return { payloads: () => payloads.slice(offset) }
  })

describe("PgWakeup", () => {
  it.live("a commit on A that names its streams wakes only B's partitions reading them", () =>
    Effect.scoped(Effect.gen(function*() {
      const url = yield* Effect.promise(() => freshDatabase("wakeup_targeted"))
      const a = yield* side(url)
      const b = yield* side(url)
      const order = { aggregateType: "Order", streamHash: 7 }
      const ordersOf = (index: number) =>
        b.signal.nextOf({ sources: [{ aggregateType: "Order" }], partition: { count: 2, index } })
      const ownPartition = yield* ordersOf(1)
      const otherPartition = yield* ordersOf(0)
      const inventory = yield* b.signal.nextOf({ sources: [{ aggregateType: "Inventory" }] })
      yield* a.signal.committed([order])
      expect(yield* wokeWithin(ownPartition, "1 second")).toBe(true)
      expect(yield* wokeWithin(otherPartition, "200 millis")).toBe(false)
      expect(yield* wokeWithin(inventory, "10 millis")).toBe(false)
      // not a wake of everything
      expect(b.remoteWakes()).toBe(0)
    })))

  it.live(
    "a commit on A wakes B; nothing echoes back to A; bursts are coalesced",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const url = yield* Effect.promise(() => freshDatabase("wakeup"))
        const a = yield* side(url)
        const b = yield* side(url)
        const counter = yield* countNotifications(b.pg)

        // A's commit: A's own waiter wakes at once, B's through PostgreSQL
        const aWait = yield* a.signal.next
        const bWait = yield* b.signal.next
        yield* a.signal.notify
        expect(yield* wokeWithin(aWait, "10 millis")).toBe(true)
        expect(yield* wokeWithin(bWait, "200 millis")).toBe(true)
        expect(b.remoteWakes()).toBe(1)

        // nothing comes back: A ignores its own notification and B's wake is not forwarded
        yield* Effect.sleep("300 millis")
        expect(a.remoteWakes()).toBe(0)
        expect(b.remoteWakes()).toBe(1)
        expect(counter.payloads().filter((p) => !p.startsWith("ping:"))).toHaveLength(1)

        // a burst of 100 commits over a few milliseconds, 10 per turn of the event loop: at most
        // one notification per turn
        const burst = (perTurn: number) =>
          Effect.gen(function*() {
            const before = counter.payloads().length
            const started = Date.now()
            for (let i = 0; i < 100; i++) {
              yield* a.signal.notify
              if (i % perTurn === perTurn - 1) yield* nextTurn
            }
            const millis = Date.now() - started
            yield* Effect.sleep("300 millis")
            const sent = counter.payloads().slice(before).filter((p) => !p.startsWith("ping:")).length
            console.log(`burst of 100 commits, ${perTurn} per turn, over ${millis} ms: ${sent} notifications`)
            return sent
          })
        const grouped = yield* burst(10)
        expect(grouped).toBeGreaterThanOrEqual(1)
        expect(grouped).toBeLessThanOrEqual(10)
        // one commit per turn: the forwarder could notify after each, but one is in flight at a time
        const spread = yield* burst(1)
        expect(spread).toBeGreaterThanOrEqual(1)
        expect(spread).toBeLessThanOrEqual(50)
        expect(a.remoteWakes()).toBe(0)
      })),
    60_000
  )

  it.live("wake-up latency from A's commit to B's waiter", () =>
    Effect.scoped(Effect.gen(function*() {
      const url = yield* Effect.promise(() => freshDatabase("wakeup_latency"))
      const a = yield* side(url)
      const b = yield* side(url)
      const samples: Array<number> = []
      for (let i = 0; i < 200; i++) {
        const wait = yield* b.signal.next
        const started = performance.now()
        yield* a.signal.notify
        const woke = yield* wokeWithin(wait, "1 second")
        samples.push(woke ? performance.now() - started : Infinity)
        yield* Effect.sleep("3 millis")
      }
      samples.sort((x, y) => x - y)
      const at = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))]!
      console.log(
        `wake-up latency A -> B: p50 ${at(0.5).toFixed(2)} ms, p90 ${at(0.9).toFixed(2)} ms, p99 ${
          at(0.99).toFixed(2)
        } ms`
      )
      expect(samples.every(Number.isFinite)).toBe(true)
      // the figure itself is the benchmark's; here only a generous bound against regressions
      expect(at(0.5)).toBeLessThan(20)
    })), 60_000)

  it.live(
    "a lost listening connection is found by the heartbeat and opened again",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const url = yield* Effect.promise(() => freshDatabase("wakeup_lost"))
        const a = yield* side(url)
        const b = yield* side(url, { heartbeat: "200 millis" })
        const admin = Context.get(
          yield* Layer.build(PgClient.layer({ url: Redacted.make(url), maxConnections: 1 })),
          PgClient.PgClient
        )

        // terminate every listening connection (A's and B's): PgClient.listen does not fail on it
        const killed = yield* admin<{ pid: number }>`
        SELECT pg_terminate_backend(pid) AS pid FROM pg_stat_activity
        WHERE datname = current_database() AND query LIKE 'LISTEN %' AND pid <> pg_backend_pid()`
        expect(killed.length).toBeGreaterThanOrEqual(2)

        // B finds out at its next heartbeat, listens again and wakes its waiters once, in case it
        // missed a notification meanwhile (nobody notifies here)
        const catchUp = yield* b.signal.next
        expect(yield* wokeWithin(catchUp, "5 seconds")).toBe(true)
        expect(b.remoteWakes()).toBe(1)

        // and A's commits reach B again
        const wait = yield* b.signal.next
        yield* a.signal.notify
        expect(yield* wokeWithin(wait, "200 millis")).toBe(true)
        expect(b.remoteWakes()).toBe(2)
      })),
    60_000
  )

  it.live("closing the layer stops listening and forwarding", () =>
    Effect.scoped(Effect.gen(function*() {
      const url = yield* Effect.promise(() => freshDatabase("wakeup_close"))
      const b = yield* side(url)
      const base = CommitSignal.unsafeMake()
      const aLayer = yield* Effect.forkScoped(Effect.scoped(Effect.gen(function*() {
        yield* Layer.build(
          PgWakeup.layer().pipe(
            Layer.provide(PgClient.layer({ url: Redacted.make(url), maxConnections: 2 })),
            Layer.provide(Layer.succeed(CommitSignal.CommitSignal, base))
          )
        )
        yield* Effect.never
      })))
      // once A is up, its commits reach B
      const reached = yield* Effect.gen(function*() {
        const wait = yield* b.signal.next
        yield* base.notify
        return yield* wokeWithin(wait, "100 millis")
      }).pipe(Effect.repeat({ until: (woke) => woke, times: 100 }))
      expect(reached).toBe(true)
      yield* Fiber.interrupt(aLayer)
      const wakes = b.remoteWakes()
      yield* base.notify
      yield* Effect.sleep("200 millis")
      expect(b.remoteWakes()).toBe(wakes)
      const listeners = yield* b.pg<{ n: string }>`
        SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN %'`
      // only B's listening connection is left
      expect(Number(listeners[0]!.n)).toBe(1)
    })), 60_000)
})
