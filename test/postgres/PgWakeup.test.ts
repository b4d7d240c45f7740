/**
 * PgWakeup: two PostgreSQL pools on one database stand in for two processes, each with its own
 * CommitSignal and its own PgWakeup layer.
 */
import { PgClient } from "@effect/sql-pg"
import { describe, expect, it } from "@effect/vitest"
import { Context, Deferred, Effect, Fiber, Layer, Option, Redacted, Stream } from "effect"
import { PgWakeup } from "effect-ddd/sql/pg"
import * as CommitSignal from "../../src/runtime/internal/commitSignal.js"
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

/** Has `wait` (taken before) completed, looked at now? Its fiber gets one turn to finish. */
const woken = (wait: Effect.Effect<void>) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(wait)
    yield* Effect.yieldNow()
    const done = Option.isSome(yield* Fiber.poll(fiber))
    yield* Fiber.interrupt(fiber)
    return done
  })

/** Poll until `check` holds; the test's timeout bounds a hang. */
const until = (check: () => boolean) =>
  Effect.gen(function*() {
    while (!check()) yield* Effect.sleep("5 millis")
  })

/**
 * The notifications on the channel as seen by a raw listener on `pg`, in the order PostgreSQL
 * delivers them, from when this returns. `mark` sends a marker notification and waits until the
 * listener has it: everything committed before the marker has been seen then.
 */
const listenRaw = (pg: PgClient.PgClient, channel = PgWakeup.defaultChannel) =>
  Effect.gen(function*() {
    const payloads: Array<string> = []
    yield* Effect.forkScoped(
      Stream.runForEach(pg.listen(channel), (payload) => Effect.sync(() => payloads.push(payload)))
    )
    let markers = 0
    // PgWakeup ignores "ping:" payloads
    const mark = Effect.gen(function*() {
      const marker = `ping:marker-${markers++}`
      yield* pg`SELECT pg_notify(${channel}, ${marker})`
      yield* until(() => payloads.includes(marker))
    })
    // LISTEN is sent when the stream starts: ping until this listener hears one
    while (payloads.length === 0) {
      yield* pg`SELECT pg_notify(${channel}, ${"ping:listening"})`
      yield* Effect.sleep("10 millis")
    }
    yield* mark
    const offset = payloads.length
    return {
      /** The notifications other than pings, since this returned. */
      notifications: () => payloads.slice(offset).filter((p) => !p.startsWith("ping:")),
      mark
    }
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
      // B reads the notification and opens, in one step, the waits it concerns: once its own
      // partition's is open, any other it opened is open too
      yield* ownPartition
      expect(yield* woken(otherPartition)).toBe(false)
      expect(yield* woken(inventory)).toBe(false)
      // not a wake of everything
      expect(b.remoteWakes()).toBe(0)
    })))

  it.live("a commit on A wakes B; nothing echoes back to A", () =>
    Effect.scoped(Effect.gen(function*() {
      const url = yield* Effect.promise(() => freshDatabase("wakeup"))
      const a = yield* side(url)
      const b = yield* side(url)
      const raw = yield* listenRaw(b.pg)
      const stream = (streamHash: number) => ({ aggregateType: "Order", streamHash })
      const readers = (side: Side, streamHash: number) =>
        side.signal.nextOf({ sources: [{ aggregateType: "Order" }], partition: { count: 100, index: streamHash } })

      // A's commit: A's own waiter wakes at once, B's through PostgreSQL
      const aWait = yield* a.signal.next
      const bWait = yield* readers(b, 1)
      yield* a.signal.committed([stream(1)])
      expect(yield* woken(aWait)).toBe(true)
      yield* bWait
      // A's notification names the stream: a wait on it, taken after the commit, is woken only if
      // A acts on its own notification
      const aEcho = yield* readers(a, 1)

      // nothing comes back. Notifications reach each listener in the order they were sent, so once
      // A is woken by B's commit (sent after A's), A has read its own notification
      const bEcho = yield* Effect.gen(function*() {
        const aFromB = yield* readers(a, 2)
        yield* b.signal.committed([stream(2)])
        const bEcho = yield* readers(b, 2)
        yield* aFromB
        return bEcho
      })
      expect(yield* woken(aEcho)).toBe(false)
      // and once B is woken by a second commit of A, B has read its own
      const bFromA = yield* readers(b, 3)
      yield* a.signal.committed([stream(3)])
      yield* bFromA
      expect(yield* woken(bEcho)).toBe(false)
      // three commits, three notifications: no wake was forwarded as a commit; none woke everything
      yield* raw.mark
      expect(raw.notifications()).toHaveLength(3)
      expect([a.remoteWakes(), b.remoteWakes()]).toEqual([0, 0])
    })), 60_000)

  it.live(
    "the commits of one turn of the event loop share one notification; of ten turns, at most ten",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const url = yield* Effect.promise(() => freshDatabase("wakeup_burst"))
        const a = yield* side(url)
        const b = yield* side(url)
        const raw = yield* listenRaw(b.pg)
        /**
         * How many notifications A's forwarder sent for the commits so far: a commit listing a
         * stream ("Marker"), made after them, is sent after them, and lists its stream when no
         * `notify` shares its round (`notify` commits list nothing). Until a listing arrives,
         * another marker follows each notification that lists nothing.
         */
        let markers = 0
        let counted = 0
        const listless = () => raw.notifications().filter((p) => !p.includes(`"Marker"`))
        const sentSoFar = Effect.gen(function*() {
          const listings = () => raw.notifications().length - listless().length
          const before = listings()
          let seen = raw.notifications().length
          yield* nextTurn
          yield* a.signal.committed([{ aggregateType: "Marker", streamHash: markers++ }])
          while (listings() === before) {
            yield* until(() => raw.notifications().length > seen)
            seen = raw.notifications().length
            if (listings() === before) yield* a.signal.committed([{ aggregateType: "Marker", streamHash: markers++ }])
          }
          const count = listless().length - counted
          counted = listless().length
          return count
        })
        expect(yield* sentSoFar).toBe(0)

        // 100 commits in one turn: one notification
        for (let i = 0; i < 100; i++) yield* a.signal.notify
        expect(yield* sentSoFar).toBe(1)

        // 100 commits over 10 turns: at least one notification, at most one per turn
        for (let i = 0; i < 100; i++) {
          yield* a.signal.notify
          if (i % 10 === 9) yield* nextTurn
        }
        const tenTurns = yield* sentSoFar
        console.log(`100 commits over 10 turns of the event loop: ${tenTurns} notification(s)`)
        expect(tenTurns).toBeGreaterThanOrEqual(1)
        expect(tenTurns).toBeLessThanOrEqual(10)
        expect(a.remoteWakes()).toBe(0)
      })),
    60_000
  )

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
        const catchUp = yield* b.signal.next
        const killed = yield* admin<{ pid: number }>`
        SELECT pg_terminate_backend(pid) AS pid FROM pg_stat_activity
        WHERE datname = current_database() AND query LIKE 'LISTEN %' AND pid <> pg_backend_pid()`
        expect(killed.length).toBeGreaterThanOrEqual(2)

        // B finds out at its next heartbeat, listens again and wakes its waiters once, in case it
        // missed a notification meanwhile (nobody notifies here)
        yield* catchUp
        expect(b.remoteWakes()).toBe(1)

        // and A's commits reach B again
        const wait = yield* b.signal.next
        yield* a.signal.notify
        yield* wait
        expect(b.remoteWakes()).toBe(2)
      })),
    60_000
  )

  it.live("closing the layer stops listening and forwarding", () =>
    Effect.scoped(Effect.gen(function*() {
      const url = yield* Effect.promise(() => freshDatabase("wakeup_close"))
      const b = yield* side(url)
      const base = CommitSignal.unsafeMake()
      const up = yield* Deferred.make<void>()
      const aLayer = yield* Effect.forkScoped(Effect.scoped(Effect.gen(function*() {
        // built once A listens
        yield* Layer.build(
          PgWakeup.layer().pipe(
            Layer.provide(PgClient.layer({ url: Redacted.make(url), maxConnections: 2 })),
            Layer.provide(Layer.succeed(CommitSignal.CommitSignal, base))
          )
        )
        yield* Deferred.succeed(up, undefined)
        yield* Effect.never
      })))
      yield* Deferred.await(up)
      // A's commits reach B
      const reached = yield* b.signal.next
      yield* base.notify
      yield* reached
      expect(b.remoteWakes()).toBe(1)
      yield* Fiber.interrupt(aLayer)
      // a commit on A once its layer is closed wakes nobody: B is woken by a later notification
      // from elsewhere, and by that one only
      yield* base.notify
      yield* nextTurn
      const later = yield* b.signal.next
      yield* b.pg`SELECT pg_notify(${PgWakeup.defaultChannel}, ${"elsewhere"})`
      yield* later
      expect(b.remoteWakes()).toBe(2)
      const listeners = yield* b.pg<{ n: string }>`
        SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN %'`
      // only B's listening connection is left
      expect(Number(listeners[0]!.n)).toBe(1)
    })), 60_000)
})
