/**
 * Group commit: concurrent top-level transactions share one database transaction, each in a
 * savepoint of its own, so each keeps its own atomicity and its own result while the batch pays
 * for one BEGIN/COMMIT (and one fsync).
 *
 * A transaction that finds a batch running or forming queues up; runners take up to `maxBatch`
 * queued transactions at a time. If a batch fails as a whole (a deadlock, a failed commit), each
 * of its members is run again alone, so one member never fails because of another.
 *
 * A transaction that finds nobody committing runs at once, in its caller's fiber: a single caller
 * pays nothing for batching. With an asynchronous driver (PostgreSQL) that is enough: while it
 * waits for the database, the others queue behind it.
 *
 * With a synchronous driver (SQLite, `yieldFirst`) a transaction never yields, so nobody could
 * queue behind it. There a transaction that finds nobody committing first waits one turn of the
 * event loop (`turn`: every fiber that is ready runs until it waits, and the I/O callbacks already
 * due run, e.g. the requests of an HTTP server), then commits together with those that queued
 * meanwhile. When such a wait finds nobody, the next transactions skip it: 2, 4, 8... up to
 * `MOST_SKIPPED` in a row while the waits keep finding nobody, so a lone caller waits on fewer
 * than 1 transaction in 256; one wait that finds company makes every next transaction wait again.
 * Whatever the callers are (long-lived loops, `Effect.forEach` with a concurrency, a fiber per
 * request), concurrent callers are found within `MOST_SKIPPED` transactions, and batched from then
 * on.
 */
import type { Context } from "effect"
import { Deferred, Effect, Exit } from "effect"

export interface Options {
  /** Most transactions committed together. */
  readonly maxBatch: number
  /** Batches in flight at once (1 for SQLite's single connection; more for a pool). */
  readonly concurrency: number
  /**
   * Whether a transaction that finds nobody committing first waits a turn for others to join it
   * (for synchronous drivers).
   */
  readonly yieldFirst: boolean
  /** The wait of `yieldFirst` (default: one turn of the event loop). */
  readonly turn?: Effect.Effect<void>
}

/** Most transactions in a row run without waiting for company after waits that found none. */
export const MOST_SKIPPED = 256

/** One turn of the event loop: after the fibers that are ready and the I/O callbacks already due. */
export const nextTurn: Effect.Effect<void> = Effect.async<void>((resume) => {
  const handle = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(handle))
})

/**
 * How to run things on the database: one transaction, and a savepoint inside it; each runs its
 * effect with the given services (those of the fiber that queued it) when there are some.
 */
export interface Runner<E> {
  readonly transaction: <A, E1, R>(
    self: Effect.Effect<A, E1, R>,
    services?: Context.Context<never>
  ) => Effect.Effect<A, E1 | E, R>
  readonly savepoint: <A, E1, R>(
    self: Effect.Effect<A, E1, R>,
    services?: Context.Context<never>
  ) => Effect.Effect<A, E1 | E, R>
}

interface Item {
  readonly run: Effect.Effect<unknown, unknown>
  /** The services of the fiber that queued it. */
  readonly services: Context.Context<never>
  readonly done: Deferred.Deferred<unknown, unknown>
  cancelled: boolean
}

/** Commit `batch`: one transaction alone, several in savepoints of one; each member's outcome to its caller. */
const runBatch = <E>(runner: Runner<E>, batch: ReadonlyArray<Item>): Effect.Effect<void> => {
  if (batch.length === 1) {
    const item = batch[0]!
    return Effect.flatMap(
      Effect.exit(runner.transaction(item.run, item.services)),
      (exit) => Deferred.done(item.done, exit)
    )
  }
  const exits: Array<Exit.Exit<unknown, unknown>> = []
  return Effect.exit(runner.transaction(
    Effect.forEach(
      batch,
      (item) => Effect.map(Effect.exit(runner.savepoint(item.run, item.services)), (exit) => exits.push(exit)),
      { discard: true }
    )
  )).pipe(
    Effect.flatMap((batchExit) =>
      Exit.isSuccess(batchExit)
        ? Effect.forEach(batch, (item, i) => Deferred.done(item.done, exits[i]!), { discard: true })
        // the batch as a whole failed: give each member its own transaction
        : Effect.forEach(batch, (item) => runBatch(runner, [item]), { discard: true })
    )
  )
}

export const make = <E>(runner: Runner<E>, options: Options) => {
  const turn = options.turn ?? nextTurn
  const queue: Array<Item> = []
  /** Transactions and runners in flight. */
  let active = 0
  /** A transaction is waiting for company: those arriving queue, and no runner starts yet. */
  let gathering = false
  /** Transactions that will still run without waiting for company. */
  let skip = 0
  /** Waits for company in a row that found none. */
  let lonely = 0

  const drain: Effect.Effect<void> = Effect.suspend(() => {
    const batch: Array<Item> = []
    while (queue.length > 0 && batch.length < options.maxBatch) {
      const item = queue.shift()!
      if (!item.cancelled) batch.push(item)
    }
    if (batch.length === 0) {
      active--
      return Effect.void
    }
    return Effect.zipRight(runBatch(runner, batch), drain)
  })

  const startRunners = Effect.suspend(() => {
    if (gathering) return Effect.void
    const wanted = Math.min(options.concurrency - active, Math.ceil(queue.length / options.maxBatch))
    if (wanted <= 0) return Effect.void
    active += wanted
    return Effect.forEach(Array.from({ length: wanted }), () => Effect.forkDaemon(drain), { discard: true })
  })

  /** Queue `self` (at the head with `first`) and wait for a runner to commit it. */
  const enqueue = <A, E1, R>(self: Effect.Effect<A, E1, R>, first = false): Effect.Effect<A, E1 | E, R> =>
    Effect.withFiberRuntime((fiber) => {
      const item: Item = {
        run: self as Effect.Effect<unknown, unknown>,
        services: fiber.currentContext,
        done: Deferred.unsafeMake<unknown, unknown>(fiber.id()),
        cancelled: false
      }
      if (first) queue.unshift(item)
      else queue.push(item)
      return Effect.zipRight(
        startRunners,
        Effect.onInterrupt(Deferred.await(item.done), () => Effect.sync(() => (item.cancelled = true)))
      ) as Effect.Effect<A, E1 | E>
    })

  /** Run `self` now, in this fiber, and hand over whatever queued meanwhile. */
  const runAlone = <A, E1, R>(self: Effect.Effect<A, E1, R>): Effect.Effect<A, E1 | E, R> => {
    active++
    return Effect.ensuring(
      runner.transaction(self),
      Effect.suspend(() => {
        active--
        // others queued behind it (it yielded): they are company
        if (queue.length > 0) skip = lonely = 0
        return startRunners
      })
    )
  }

  /** Wait a turn for others to queue; then commit `self` with them, or alone if none came. */
  const gather = <A, E1, R>(self: Effect.Effect<A, E1, R>): Effect.Effect<A, E1 | E, R> => {
    gathering = true
    return Effect.onExit(turn, () => Effect.sync(() => (gathering = false))).pipe(
      Effect.onInterrupt(() => startRunners),
      Effect.zipRight(Effect.suspend(() => {
        if (queue.length > 0) {
          lonely = 0
          return enqueue(self, true)
        }
        lonely++
        skip = Math.min(2 ** lonely, MOST_SKIPPED)
        return runAlone(self)
      }))
    )
  }

  return <A, E1, R>(self: Effect.Effect<A, E1, R>): Effect.Effect<A, E1 | E, R> =>
    Effect.suspend(() => {
      if (active > 0 || gathering || queue.length > 0) return enqueue(self)
      if (!options.yieldFirst) return runAlone(self)
      if (skip > 0) {
        skip--
        return runAlone(self)
      }
      return gather(self)
    })
}
