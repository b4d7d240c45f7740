import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber } from "effect"
import * as GroupCommit from "../../src/adapters/sql/internal/groupCommit.js"

/** A runner that records what it was asked to do; with `failBatches`, a transaction holding savepoints fails at commit. */
const recording = (failBatches = false) => {
  const log: Array<string> = []
  let savepoints = 0
  const runner: GroupCommit.Runner<never> = {
    transaction: (self) =>
      Effect.suspend(() => {
        log.push("begin")
        savepoints = 0
        return Effect.ensuring(
          Effect.flatMap(
            self,
            (a) => (failBatches && savepoints > 0 ? Effect.die("commit failed") : Effect.succeed(a))
          ),
          Effect.sync(() => log.push("end"))
        )
      }),
    savepoint: (self) =>
      Effect.zipRight(
        Effect.sync(() => {
          savepoints++
          log.push("savepoint")
        }),
        self
      )
  }
  return { log, runner }
}

const member = (log: Array<string>, name: string, fail = false) =>
  Effect.suspend(() => {
    log.push(name)
    return fail ? Effect.fail(`${name} failed`) : Effect.succeed(name)
  })

describe("group commit", () => {
  it.effect("concurrent transactions share one commit, each in a savepoint with its own result", () =>
    Effect.gen(function*() {
      const { log, runner } = recording()
      const commit = GroupCommit.make(runner, { maxBatch: 64, concurrency: 1, yieldFirst: true })
      const results = yield* Effect.all(
        ["a", "b", "c", "d"].map((name) => Effect.exit(commit(member(log, name, name === "c")))),
        { concurrency: "unbounded" }
      )
      expect(results.map((e) => (Exit.isSuccess(e) ? e.value : "failed"))).toEqual(["a", "b", "failed", "d"])
      // the first waits a turn for company; the three that queued meanwhile share its transaction
      expect(log).toEqual([
        "begin",
        "savepoint",
        "a",
        "savepoint",
        "b",
        "savepoint",
        "c",
        "savepoint",
        "d",
        "end"
      ])
    }))

  it.effect("a lone caller waits for company on fewer than one transaction in MOST_SKIPPED", () =>
    Effect.gen(function*() {
      const { log, runner } = recording()
      let waits = 0
      const turn = Effect.zipRight(Effect.sync(() => waits++), GroupCommit.nextTurn)
      const commit = GroupCommit.make(runner, { maxBatch: 64, concurrency: 1, yieldFirst: true, turn })
      const transactions = 4 * GroupCommit.MOST_SKIPPED
      for (let i = 0; i < transactions; i++) yield* commit(member(log, "x"))
      // each alone; waits while the skips double (1, 2, 4 ... MOST_SKIPPED), then one per MOST_SKIPPED
      expect(log.filter((entry) => entry === "begin").length).toBe(transactions)
      expect(log).not.toContain("savepoint")
      expect(waits).toBeGreaterThan(0)
      expect(waits).toBeLessThanOrEqual(Math.log2(GroupCommit.MOST_SKIPPED) + 4)
    }))

  it.effect("after a lone stretch, Effect.forEach with a concurrency is found and batched", () =>
    Effect.gen(function*() {
      const { log, runner } = recording()
      const commit = GroupCommit.make(runner, { maxBatch: 64, concurrency: 1, yieldFirst: true })
      // a lone caller first: the next transactions skip the wait for company
      for (let i = 0; i < 2 * GroupCommit.MOST_SKIPPED; i++) yield* commit(member(log, "lone"))
      log.length = 0
      // then fibers that start and end, as batch code or a server with a fiber per request makes them
      const items = 8 * GroupCommit.MOST_SKIPPED
      const results = yield* Effect.forEach(
        Array.from({ length: items }, (_, i) => `item-${i}`),
        (name) => commit(member(log, name)),
        { concurrency: 16 }
      )
      expect(results).toHaveLength(items)
      const commits = log.filter((entry) => entry === "begin").length
      // found within MOST_SKIPPED transactions; from then on, 16 callers share each commit
      expect(commits).toBeLessThanOrEqual(GroupCommit.MOST_SKIPPED + Math.ceil(items / 16) + 16)
      expect(log.filter((entry) => entry === "savepoint").length).toBeGreaterThan(items / 2)
    }))

  it.effect("a transaction interrupted while it waits for company lets those that queued commit", () =>
    Effect.gen(function*() {
      const { log, runner } = recording()
      const waiting = yield* Deferred.make<void>()
      const commit = GroupCommit.make(runner, {
        maxBatch: 64,
        concurrency: 1,
        yieldFirst: true,
        turn: Effect.zipRight(Deferred.succeed(waiting, undefined), Effect.never)
      })
      const leader = yield* Effect.fork(commit(member(log, "a")))
      yield* Deferred.await(waiting)
      const follower = yield* Effect.fork(commit(member(log, "b")))
      yield* Effect.yieldNow()
      yield* Fiber.interrupt(leader)
      expect(yield* Fiber.join(follower)).toBe("b")
      expect(log).toEqual(["begin", "b", "end"])
    }))

  it.effect("a transaction interrupted while it runs alone does not hold up the next ones", () =>
    Effect.gen(function*() {
      const { log, runner } = recording()
      const commit = GroupCommit.make(runner, { maxBatch: 64, concurrency: 1, yieldFirst: true })
      const started = yield* Deferred.make<void>()
      const stuck = yield* Effect.fork(commit(Effect.zipRight(Deferred.succeed(started, undefined), Effect.never)))
      yield* Deferred.await(started)
      yield* Fiber.interrupt(stuck)
      expect(yield* commit(member(log, "next"))).toBe("next")
      expect(log).toEqual(["begin", "end", "begin", "next", "end"])
    }))

  it.effect("a batch that fails as a whole runs each member again alone", () =>
    Effect.gen(function*() {
      const { log, runner } = recording(true)
      const commit = GroupCommit.make(runner, { maxBatch: 64, concurrency: 1, yieldFirst: true })
      const results = yield* Effect.all(["a", "b", "c"].map((name) => Effect.exit(commit(member(log, name)))), {
        concurrency: "unbounded"
      })
      expect(results.map((e) => (Exit.isSuccess(e) ? e.value : "failed"))).toEqual(["a", "b", "c"])
      expect(log).toEqual([
        "begin",
        "savepoint",
        "a",
        "savepoint",
        "b",
        "savepoint",
        "c",
        "end",
        "begin",
        "a",
        "end",
        "begin",
        "b",
        "end",
        "begin",
        "c",
        "end"
      ])
    }))
})
