import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
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
      // the first runs alone; the three that queued behind it share one transaction
      expect(log).toEqual(["begin", "a", "end", "begin", "savepoint", "b", "savepoint", "c", "savepoint", "d", "end"])
    }))

  it.effect("after a transaction that had no company, the next ones do not wait for any", () =>
    Effect.gen(function*() {
      const { log, runner } = recording()
      const commit = GroupCommit.make(runner, { maxBatch: 64, concurrency: 1, yieldFirst: true })
      yield* commit(member(log, "a"))
      // a synchronous runner: without a turn given away first, nobody can queue behind b
      yield* Effect.all(["b", "c", "d"].map((name) => commit(member(log, name))), { concurrency: "unbounded" })
      expect(log).toEqual(["begin", "a", "end", "begin", "b", "end", "begin", "c", "end", "begin", "d", "end"])
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
        "a",
        "end",
        "begin",
        "savepoint",
        "b",
        "savepoint",
        "c",
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
