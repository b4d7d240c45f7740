/**
 * A projection's supervisor: builds its versions side by side and switches reads.
 *
 * At every poll it reads the projection's versions and moves them on, each change in a
 * transaction with the tables it concerns:
 * - the version this code declares is recorded (`serving` when nothing serves yet, else `building`)
 *   together with its `init`, unless it would be built from the start of a pruned log (`refused`);
 * - a `building` version whose partitions have all caught up with the log becomes `serving`, and
 *   the version serving until then `retiring`;
 * - a `retiring` version that no process delivers any more (no live lease) is `retired` together
 *   with its `drop`;
 * - a requested rebuild drops and re-creates the version's tables and moves its checkpoints back to
 *   the start (fencing whoever delivers it).
 * It then delivers the versions that are `building` or `serving` (up to its own: a newer version
 * belongs to newer code) and stops delivering the others. Every step is recorded, so a restart
 * resumes where it stood: a building version continues from its checkpoints, `init` is not run
 * again.
 */
import { Cause, Clock, Effect, Fiber, Option, Schedule } from "effect"
import type * as Subscription from "../../../core/Subscription.js"
import { logStart } from "../../../ports/EventStore.js"
import type * as ProjectionVersions from "../../../ports/ProjectionVersions.js"
import { ProjectionRebuildRefused } from "../../../ports/ProjectionVersions.js"
import type * as Pruning from "../../../ports/Pruning.js"
import { type Engine, partition } from "./context.js"
import * as Worker from "./worker.js"

/** What a supervisor works with beside the engine. */
export interface Stores {
  readonly versions: ProjectionVersions.Service
  /** Where the log was pruned, when the store prunes. */
  readonly pruning: Option.Option<Pruning.Service>
  /** Record a subscription in the registry (for the CLI and pruning's horizons). */
  readonly register: (subscription: Subscription.Any) => Effect.Effect<void>
  /** Forget a retired version's subscription, so it no longer holds pruning back. */
  readonly unregister: (name: string) => Effect.Effect<void, unknown>
}

/** Supervise a projection (the subscription of the version this code declares) until interrupted. */
export const supervise = (engine: Engine, stores: Stores, declared: Subscription.Any): Effect.Effect<never> => {
  const versions = declared.versions!
  const { name, version } = versions
  const running = new Map<number, ReadonlyArray<Fiber.RuntimeFiber<never>>>()
  const subscriptionOf = (v: number) => engine.driver.instrument(versions.at(v))
  const target = (v: number): Subscription.Target => ({ name, version: v })
  // the hooks' requirements are the subscription's, provided to the relay like its handler's
  const init = (v: number) => versions.init(target(v)) as Effect.Effect<void, unknown>
  const drop = (v: number) => versions.drop(target(v)) as Effect.Effect<void, unknown>
  const partitions = (s: Subscription.Any) => Array.from({ length: s.partitions }, (_, i) => partition(s, i))
  let previousCheckAt: number | undefined
  let warned = ""

  /** Log a warning once until it changes. */
  const warnOnce = (message: string) =>
    message === warned ? Effect.void : Effect.zipRight(
      Effect.sync(() => {
        warned = message
      }),
      Effect.logWarning(message)
    )

  /** Why building a version from the start would miss events, if it would. */
  const refusal = (v: number): Effect.Effect<Option.Option<ProjectionRebuildRefused>, unknown> => {
    if (versions.fromEarliestKept || Option.isNone(stores.pruning)) return Effect.succeed(Option.none())
    return Effect.map(stores.pruning.value.prunedThrough, (marks) => {
      for (const source of declared.sources) {
        const mark = marks.get(source.aggregate.name)
        if (mark !== undefined) {
          return Option.some(
            new ProjectionRebuildRefused({
              name,
              version: v,
              aggregateType: source.aggregate.name,
              prunedThrough: mark.position
            })
          )
        }
      }
      return Option.none()
    })
  }

  /** Whether no partition of a subscription has delivered anything yet. */
  const atStart = (s: Subscription.Any) =>
    Effect.map(
      Effect.forEach(partitions(s), (p) => engine.checkpoints.get(s.name, p.index)),
      (cursors) => cursors.every((c) => c.commitOrder === logStart.commitOrder && c.position === logStart.position)
    )

  /**
   * Whether every partition has delivered what the log held at the previous check (events that
   * occurred since then may still be on their way: under steady writes the backlog is seldom
   * empty), and no event is dead-lettered.
   */
  const caughtUp = (s: Subscription.Any, now: number) =>
    Effect.gen(function*() {
      const cutoff = previousCheckAt
      previousCheckAt = now
      for (const p of partitions(s)) {
        const backlog = yield* engine.store.backlog(yield* engine.checkpoints.get(s.name, p.index), p.filter)
        const behind = backlog.count > 0 &&
          (cutoff === undefined || backlog.oldestOccurredAt === undefined || backlog.oldestOccurredAt <= cutoff)
        if (behind) return false
      }
      return (yield* engine.deadLetters.list({ subscription: s.name })).length === 0
    })

  /** Record the declared version (with its `init`), or why it is refused. */
  const begin = (rows: ReadonlyArray<ProjectionVersions.Version>, now: number) =>
    Effect.gen(function*() {
      const s = subscriptionOf(version)
      const mine = rows.find((r) => r.version === version)
      // a projection that was delivered before it had versions continues from its checkpoints
      const refused = (yield* atStart(s)) ? yield* refusal(version) : Option.none()
      if (Option.isSome(refused)) {
        if (mine?.detail !== refused.value.message) {
          yield* stores.versions.refuse({ name, version, subscription: s.name }, refused.value.message, now)
          yield* Effect.logError(refused.value.message).pipe(Effect.annotateLogs({ projection: name, version }))
        }
        return
      }
      // a projection delivered before it had versions, now given version 2 or more: its first
      // version serves (its tables exist) while the new one builds
      const legacy = rows.length === 0 && version > 1 && !(yield* atStart(subscriptionOf(1)))
      const status = legacy || rows.some((r) => r.status === "serving") ? "building" : "serving"
      const began = yield* engine.store.withTransaction(
        Effect.zipRight(
          legacy
            ? stores.versions.begin({ name, version: 1, subscription: subscriptionOf(1).name, status: "serving" }, now)
            : Effect.void,
          Effect.flatMap(
            stores.versions.begin({ name, version, subscription: s.name, status }, now),
            (began) => began ? Effect.as(init(version), true) : Effect.succeed(false)
          )
        )
      )
      if (began) {
        yield* Effect.logInfo(
          status === "serving" ? `projection ${name} v${version} serves` : `projection ${name} v${version} builds`
        ).pipe(Effect.annotateLogs({ projection: name, version }))
      }
    })

  /** Drop and re-create a version's tables and deliver it again from the start. */
  const rebuild = (v: ProjectionVersions.Version, now: number) =>
    Effect.gen(function*() {
      const refused = yield* refusal(v.version)
      if (Option.isSome(refused)) {
        yield* stores.versions.startRebuild(name, v.version, now)
        return yield* Effect.logError(`rebuild refused: ${refused.value.message}`).pipe(
          Effect.annotateLogs({ projection: name, version: v.version })
        )
      }
      const s = subscriptionOf(v.version)
      const started = yield* engine.store.withTransaction(
        Effect.flatMap(stores.versions.startRebuild(name, v.version, now), (started) =>
          started
            ? drop(v.version).pipe(
              Effect.zipRight(init(v.version)),
              // fences whoever delivers it: their transaction in flight rolls back
              Effect.zipRight(
                Effect.forEach(partitions(s), (p) => engine.checkpoints.reset(s.name, p.index, logStart), {
                  discard: true
                })
              ),
              Effect.as(true)
            )
            : Effect.succeed(false))
      )
      if (started) {
        yield* Effect.logInfo(`projection ${name} v${v.version} rebuilds from the start`).pipe(
          Effect.annotateLogs({ projection: name, version: v.version })
        )
      }
    })

  /** Switch reads to the declared version once it has caught up. */
  const promote = (now: number) =>
    Effect.gen(function*() {
      if (!(yield* caughtUp(subscriptionOf(version), now))) return
      if (yield* stores.versions.promote(name, version, now)) {
        yield* Effect.logInfo(`projection ${name} v${version} caught up: reads switch to it`).pipe(
          Effect.annotateLogs({ projection: name, version })
        )
      }
    })

  /** Deliver the versions that serve or build (up to the declared one), and no other. */
  const reconcile = (rows: ReadonlyArray<ProjectionVersions.Version>) =>
    Effect.gen(function*() {
      const wanted = new Set(
        rows.filter((r) => (r.status === "serving" || r.status === "building") && r.version <= version).map((r) =>
          r.version
        )
      )
      for (const [v, fibers] of running) {
        if (!wanted.has(v)) {
          running.delete(v)
          yield* Fiber.interruptAll(fibers)
        }
      }
      for (const v of wanted) {
        if (running.has(v)) continue
        const s = subscriptionOf(v)
        yield* stores.register(s)
        running.set(v, yield* Effect.forEach(partitions(s), (p) => Effect.fork(Worker.run(engine, p))))
      }
      const newer = rows.find((r) => r.status === "serving" && r.version > version)
      if (newer !== undefined) {
        yield* warnOnce(
          `projection ${name}: v${newer.version} serves, newer than v${version} this process builds; it delivers none`
        )
      }
    })

  /** Drop the retiring versions no process delivers any more. */
  const dropRetiring = (rows: ReadonlyArray<ProjectionVersions.Version>, now: number) =>
    Effect.forEach(
      rows.filter((r) => r.status === "retiring" && !running.has(r.version)),
      (r) =>
        Effect.gen(function*() {
          const leases = yield* engine.checkpoints.leases(r.subscription)
          if (leases.some((l) => l.expiresAt > now)) return
          const dropped = yield* engine.store.withTransaction(
            Effect.flatMap(
              stores.versions.retire(name, r.version, now),
              (retired) =>
                retired
                  ? drop(r.version).pipe(Effect.zipRight(stores.unregister(r.subscription)), Effect.as(true))
                  : Effect.succeed(false)
            )
          )
          if (dropped) {
            yield* Effect.logInfo(`projection ${name} v${r.version} retired: its tables are dropped`).pipe(
              Effect.annotateLogs({ projection: name, version: r.version })
            )
          }
        }),
      { discard: true }
    )

  const step = Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    const before = yield* stores.versions.list(name)
    const mine = before.find((r) => r.version === version)
    if (mine === undefined || mine.status === "refused") yield* begin(before, now)
    else if (mine.rebuildRequested) yield* rebuild(mine, now)
    else if (mine.status === "building") yield* promote(now)
    const rows = yield* stores.versions.list(name)
    yield* reconcile(rows)
    yield* dropRetiring(rows, now)
  })

  return step.pipe(
    Effect.catchAllCause((cause) =>
      Cause.isInterruptedOnly(cause)
        ? Effect.interrupt
        : Effect.logWarning(`projection ${name}: supervision failed, trying again`, cause)
    ),
    Effect.repeat(Schedule.spaced(engine.pollMillis)),
    Effect.zipRight(Effect.never),
    Effect.annotateLogs({ projection: name, relay: engine.owner })
  )
}
