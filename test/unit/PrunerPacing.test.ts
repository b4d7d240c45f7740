/**
 * `Pruner.run` paces its batches: after a batch that took `t`, it waits `t * (1 - share) / share`,
 * and never less than `pause`. Time is `TestClock`'s: each batch of the stub takes a known time.
 */
import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, Fiber, Layer, Option, TestClock } from "effect"
import { Pruner, Pruning } from "effect-ddd"

/** A Pruning whose event batches take `took[i]` milliseconds each; records when each started. */
const stub = (took: ReadonlyArray<number>, batchSize: number) => {
  const started: Array<number> = []
  let batch = 0
  const service: Pruning.Service = {
    policy: Effect.die("unused"),
    record: () => Effect.void,
    heldBack: () => Effect.succeed([]),
    plan: () =>
      Effect.succeed({
        removable: { events: 0, idempotency: 0, inbox: 0, processInstances: 0 },
        heldBack: [],
        oldestEventKept: Option.none()
      }),
    pruneBatch: (table, _now, limit) =>
      table !== "events" || batch >= took.length
        ? Effect.succeed(0)
        : Effect.gen(function*() {
          started.push(yield* Clock.currentTimeMillis)
          const i = batch++
          yield* Effect.sleep(took[i]!)
          // a full batch until the last one, which is short: the run stops after it
          return i === took.length - 1 ? batchSize - 1 : Math.min(limit, batchSize)
        }),
    prunedThrough: Effect.succeed(new Map())
  }
  return { started, layer: Layer.succeed(Pruning.Pruning, service) }
}

const gaps = (started: ReadonlyArray<number>) => started.slice(1).map((at, i) => at - started[i]!)

const runAll = (options: Pruner.Options, took: ReadonlyArray<number>) =>
  Effect.gen(function*() {
    const { layer, started } = stub(took, 10)
    const fiber = yield* Effect.fork(Effect.provide(Pruner.run({ batchSize: 10, ...options }), layer))
    while (Option.isNone(yield* Fiber.poll(fiber))) yield* TestClock.adjust("10 millis") // every time here is a multiple of 10
    const report = yield* Fiber.join(fiber)
    return { started, removed: report.removed.events }
  })

describe("Pruner pacing", () => {
  it.effect("waits nineteen times a batch's duration by default (share 0.05)", () =>
    Effect.gen(function*() {
      const { removed, started } = yield* runAll({ pause: "10 millis" }, [20, 40, 10])
      expect(removed).toBe(29)
      // batch 1 took 20: 380 of pause; batch 2 took 40: 760
      expect(gaps(started)).toEqual([20 + 380, 40 + 760])
    }))

  it.effect("never waits less than pause", () =>
    Effect.gen(function*() {
      const { started } = yield* runAll({ pause: "100 millis", share: 0.5 }, [20, 30, 1])
      // share 0.5 asks for 20 and 30: the pause of 100 wins
      expect(gaps(started)).toEqual([20 + 100, 30 + 100])
    }))

  it.effect("share 1 leaves only pause", () =>
    Effect.gen(function*() {
      const { started } = yield* runAll({ pause: "10 millis", share: 1 }, [50, 50, 1])
      expect(gaps(started)).toEqual([60, 60])
    }))
})
