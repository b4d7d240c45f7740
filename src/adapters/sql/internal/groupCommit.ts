/**
 * Group commit: concurrent top-level transactions share one database transaction, each in a
 * savepoint of its own, so each keeps its own atomicity and its own result while the batch pays
 * for one BEGIN/COMMIT (and one fsync).
 *
 * A transaction that finds no batch running executes in its caller's fiber: a single caller pays
 * almost nothing for batching. Those that arrive meanwhile queue up; runners take up to
 * `maxBatch` of them at a time. If a batch fails as a whole (a deadlock, a failed commit), each of
 * its members is run again alone, so one member never fails because of another.
 *
 * With a synchronous driver a transaction never yields, so nobody could queue behind it: there
 * (`yieldFirst`) a transaction that finds nobody committing first yields once, to let callers
 * that are ready queue up; but only while transactions have had company lately, since a lone
 * caller would pay for that turn on every transaction.
 */
import type { Context } from "effect"
import { Deferred, Effect, Exit } from "effect"

export interface Options {
  /** Most transactions committed together. */
  readonly maxBatch: number
  /** Batches in flight at once (1 for SQLite's single connection; more for a pool). */
  readonly concurrency: number
  /** Whether a transaction that finds nobody committing yields first (for synchronous drivers). */
  readonly yieldFirst: boolean
}

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

export const make = <E>(runner: Runner<E>, options: Options) => {
  const queue: Array<Item> = []
  let active = 0
  /** Whether the last transaction run alone found others queued behind it when it finished. */
  let company = true

  const complete = (item: Item, exit: Exit.Exit<unknown, unknown>) => Deferred.done(item.done, exit)

  const runBatch = (batch: ReadonlyArray<Item>): Effect.Effect<void> => {
    if (batch.length === 1) {
      const item = batch[0]!
      return Effect.flatMap(Effect.exit(runner.transaction(item.run, item.services)), (exit) => complete(item, exit))
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
          ? Effect.forEach(batch, (item, i) => complete(item, exits[i]!), { discard: true })
          // the batch as a whole failed: give each member its own transaction
          : Effect.forEach(batch, (item) => runBatch([item]), { discard: true })
      )
    )
  }

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
    return Effect.zipRight(runBatch(batch), drain)
  })

  const startRunners = Effect.suspend(() => {
    const wanted = Math.min(options.concurrency - active, Math.ceil(queue.length / options.maxBatch))
    if (wanted <= 0) return Effect.void
    active += wanted
    return Effect.forEach(Array.from({ length: wanted }), () => Effect.forkDaemon(drain), { discard: true })
  })

  const enqueue = <A, E1, R>(self: Effect.Effect<A, E1, R>): Effect.Effect<A, E1 | E, R> =>
    Effect.withFiberRuntime((fiber) => {
      const done = Deferred.unsafeMake<unknown, unknown>(fiber.id())
      const item: Item = {
        run: self as Effect.Effect<unknown, unknown>,
        services: fiber.currentContext,
        done,
        cancelled: false
      }
      queue.push(item)
      return Effect.zipRight(
        startRunners,
        Effect.onInterrupt(Deferred.await(done), () => Effect.sync(() => (item.cancelled = true)))
      ) as Effect.Effect<A, E1 | E>
    })

  return <A, E1, R>(self: Effect.Effect<A, E1, R>): Effect.Effect<A, E1 | E, R> =>
    Effect.suspend(() => {
      if (active > 0 || queue.length > 0) return enqueue(self)
      // nobody is committing: run now, in this fiber, and hand over whatever queued up meanwhile
      active++
      return (options.yieldFirst && company
        ? Effect.zipRight(Effect.yieldNow(), runner.transaction(self))
        : runner.transaction(self))
        .pipe(
          Effect.ensuring(Effect.suspend(() => {
            active--
            company = queue.length > 0
            return startRunners
          }))
        )
    })
}
