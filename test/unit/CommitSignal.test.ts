import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Option } from "effect"
import { EventStore } from "effect-ddd"
import * as CommitSignal from "../../src/runtime/internal/commitSignal.js"

/** Whether a wait taken before `act` is done right after it. */
const wokenBy = (signal: CommitSignal.Service, wait: Effect.Effect<Effect.Effect<void>>, act: Effect.Effect<void>) =>
  Effect.gen(function*() {
    const awaiting = yield* wait
    const fiber = yield* Effect.fork(awaiting)
    yield* Effect.yieldNow()
    yield* act
    yield* Effect.yieldNow()
    const done = Option.isSome(yield* Fiber.poll(fiber))
    yield* Fiber.interrupt(fiber)
    return done
  })

/** An id whose stream lands in the given partition of `count`. */
const idIn = (index: number, count: number) => {
  for (let i = 0;; i++) if (EventStore.streamHash(`id-${i}`) % count === index) return `id-${i}`
}

describe("CommitSignal", () => {
  const orders = { sources: [{ aggregateType: "Order" }], partition: { count: 2, index: 0 } }
  const orderIn = (index: number) => ({ aggregateType: "Order", streamHash: EventStore.streamHash(idIn(index, 2)) })

  it.effect("a partition's wait is woken by commits of its own events only", () =>
    Effect.gen(function*() {
      const signal = CommitSignal.unsafeMake()
      const wait = signal.nextOf(orders)
      expect(yield* wokenBy(signal, wait, signal.committed([orderIn(0)]))).toBe(true)
      expect(yield* wokenBy(signal, wait, signal.committed([orderIn(1)]))).toBe(false)
      expect(
        yield* wokenBy(
          signal,
          wait,
          signal.committed([{ aggregateType: "Inventory", streamHash: orderIn(0).streamHash }])
        )
      )
        .toBe(false)
      expect(yield* wokenBy(signal, wait, signal.committed([orderIn(1), orderIn(0)]))).toBe(true)
    }))

  it.effect("notify and wake reach every wait; a commit of anything reaches the waits of everything", () =>
    Effect.gen(function*() {
      const signal = CommitSignal.unsafeMake()
      expect(yield* wokenBy(signal, signal.nextOf(orders), signal.notify)).toBe(true)
      expect(yield* wokenBy(signal, signal.nextOf(orders), signal.wake)).toBe(true)
      expect(yield* wokenBy(signal, signal.next, signal.committed([orderIn(1)]))).toBe(true)
      expect(yield* wokenBy(signal, signal.nextOf({}), signal.committed([orderIn(1)]))).toBe(true)
      expect(yield* wokenBy(signal, signal.nextCommit, signal.committed([orderIn(1)]))).toBe(true)
      expect(yield* wokenBy(signal, signal.nextCommit, signal.wake)).toBe(false)
    }))

  it.effect("what is collected in a transaction is signalled after it succeeds, not before, and not at all after a failure", () =>
    Effect.gen(function*() {
      const signal = CommitSignal.unsafeMake()
      const collect = Effect.flatMap(
        CommitSignal.Collecting,
        (collector) => Effect.sync(() => collector.events.push(orderIn(0)))
      )
      // inside: collected, so the wait is not woken yet
      let wokenInside = true
      const wait = signal.nextOf(orders)
      expect(
        yield* wokenBy(
          signal,
          wait,
          CommitSignal.collecting(
            signal,
            Effect.gen(function*() {
              yield* collect
              wokenInside = yield* wokenBy(signal, wait, Effect.void)
            })
          )
        )
      ).toBe(true)
      expect(wokenInside).toBe(false)
      expect(
        yield* wokenBy(
          signal,
          wait,
          Effect.ignore(CommitSignal.collecting(signal, Effect.zipRight(collect, Effect.fail("rolled back"))))
        )
      )
        .toBe(false)
      // a collector whose transaction has ended is closed: later commits signal themselves
      const leaked = yield* CommitSignal.collecting(signal, CommitSignal.Collecting)
      expect(leaked.open).toBe(false)
    }))

  it.effect("takeCommitted lists the streams committed since the last call, or nothing known after a notify", () =>
    Effect.gen(function*() {
      const signal = CommitSignal.unsafeMake()
      yield* signal.committed([orderIn(0), orderIn(1)])
      yield* signal.committed([orderIn(0)])
      expect(yield* signal.takeCommitted).toEqual([orderIn(0), orderIn(1)])
      expect(yield* signal.takeCommitted).toEqual([])
      yield* signal.committed([orderIn(1)])
      yield* signal.notify
      expect(yield* signal.takeCommitted).toBeUndefined()
      // bounded: past a hundred streams it stops listing
      yield* signal.committed(Array.from({ length: 101 }, (_, i) => ({ aggregateType: "Order", streamHash: i })))
      expect(yield* signal.takeCommitted).toBeUndefined()
    }))

  it.effect("wakeFor wakes the interested waits, not the commit listeners", () =>
    Effect.gen(function*() {
      const signal = CommitSignal.unsafeMake()
      expect(yield* wokenBy(signal, signal.nextOf(orders), signal.wakeFor([orderIn(0)]))).toBe(true)
      expect(yield* wokenBy(signal, signal.nextOf(orders), signal.wakeFor([orderIn(1)]))).toBe(false)
      expect(yield* wokenBy(signal, signal.nextCommit, signal.wakeFor([orderIn(0)]))).toBe(false)
    }))
})
