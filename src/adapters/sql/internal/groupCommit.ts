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
import { Effect, Exit, identity } from "effect"

/** Makes an effect interruptible again inside an uninterruptible region. */
type Restore = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>

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

/** Most turns given to ready fibers while each brings more transactions to a batch. */
const MOST_YIELDS = 8

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
  /** Resumes the fiber waiting for the outcome, once it waits. */
  resume: ((exit: Exit.Exit<unknown, unknown>) => void) | undefined
  /** The outcome, when it came before the fiber waited for it. */
  exit: Exit.Exit<unknown, unknown> | undefined
  cancelled: boolean
}

/** Hand `exit` to the fiber that queued `item`. */
const settle = (item: Item, exit: Exit.Exit<unknown, unknown>): void => {
  if (item.resume !== undefined) item.resume(exit)
  else item.exit = exit
}

/**
 * Wait for the outcome of `item`; interrupted, the item is dropped if no runner took it yet. A
 * callback, not a `Deferred`: a member pays one step of the fiber to wait and none to be woken.
 */
const outcome = (item: Item): Effect.Effect<unknown, unknown> =>
  Effect.async<unknown, unknown>((resume) => {
    if (item.exit !== undefined) return resume(item.exit)
    item.resume = resume
    return Effect.sync(() => {
      item.cancelled = true
    })
  })

/** Commit `batch`: one transaction alone, several in savepoints of one; each member's outcome to its caller. */
const runBatch = <E>(runner: Runner<E>, batch: ReadonlyArray<Item>): Effect.Effect<void> => {
  if (batch.length === 1) {
    const item = batch[0]!
    return Effect.matchCause(runner.transaction(item.run, item.services), {
      onFailure: (cause) => settle(item, Exit.failCause(cause)),
      onSuccess: (value) => settle(item, Exit.succeed(value))
    })
  }
  const exits: Array<Exit.Exit<unknown, unknown>> = []
  // the members one after the other, each in its savepoint: one step of the fiber each
  const member = (i: number): Effect.Effect<void, E> =>
    i === batch.length ? Effect.void : Effect.matchCauseEffect(runner.savepoint(batch[i]!.run, batch[i]!.services), {
      onFailure: (cause) => {
        exits.push(Exit.failCause(cause))
        return member(i + 1)
      },
      onSuccess: (value) => {
        exits.push(Exit.succeed(value))
        return member(i + 1)
      }
    })
  return Effect.matchCauseEffect(runner.transaction(member(0)), {
    onSuccess: () =>
      Effect.sync(() => {
        for (let i = 0; i < batch.length; i++) settle(batch[i]!, exits[i]!)
      }),
    // the batch as a whole failed: give each member its own transaction
    onFailure: () => Effect.forEach(batch, (item) => runBatch(runner, [item]), { discard: true })
  })
}

/** What a group commit keeps between transactions. */
interface State {
  readonly queue: Array<Item>
  /** Transactions and runners in flight. */
  active: number
  /** A transaction is waiting for company: those arriving queue, and no runner starts yet. */
  gathering: boolean
  /** Transactions that will still run without waiting for company. */
  skip: number
  /** Waits for company in a row that found none. */
  lonely: number
}

/** Take batches off the queue until it is empty; then this runner stops. */
const drain = <E>(state: State, runner: Runner<E>, maxBatch: number): Effect.Effect<void> =>
  Effect.suspend(() => {
    const batch: Array<Item> = []
    while (state.queue.length > 0 && batch.length < maxBatch) {
      const item = state.queue.shift()!
      if (!item.cancelled) batch.push(item)
    }
    if (batch.length === 0) {
      state.active--
      return Effect.void
    }
    return Effect.zipRight(runBatch(runner, batch), drain(state, runner, maxBatch))
  })

/** How many more runners the queue needs, within `concurrency` (none while a transaction gathers company). */
const runnersWanted = (state: State, options: Options): number =>
  state.gathering
    ? 0
    : Math.min(options.concurrency - state.active, Math.ceil(state.queue.length / options.maxBatch))

/** Start the runners the queue needs (`runnersWanted`). */
const startRunners = <E>(state: State, runner: Runner<E>, options: Options): Effect.Effect<void> =>
  Effect.suspend(() => {
    const wanted = runnersWanted(state, options)
    if (wanted <= 0) return Effect.void
    state.active += wanted
    const runner_ = Effect.forkDaemon(drain(state, runner, options.maxBatch))
    return Effect.forEach(Array.from({ length: wanted }), () => runner_, { discard: true })
  })

/**
 * Queue `self` and wait for a runner (started by `start` if it needs one) to commit it. The
 * transaction that gathered company queues first, from its uninterruptible region: `restore`
 * makes only its wait interruptible.
 */
const enqueue = <A, E, R>(
  state: State,
  options: Options,
  start: Effect.Effect<void>,
  self: Effect.Effect<A, E, R>,
  first = false,
  restore: Restore = identity
): Effect.Effect<A, E, R> =>
  Effect.withFiberRuntime((fiber) => {
    const item: Item = {
      run: self as Effect.Effect<unknown, unknown>,
      services: fiber.currentContext,
      resume: undefined,
      exit: undefined,
      cancelled: false
    }
    if (first) state.queue.unshift(item)
    else state.queue.push(item)
    const wait = restore(outcome(item)) as Effect.Effect<A, E>
    return runnersWanted(state, options) > 0 ? Effect.zipRight(start, wait) : wait
  })

/**
 * Let the fibers that are ready run (`yieldNow`) while that brings more transactions; if it
 * brought none, wait `turn`. Callers that are ready arrive within a yield or two (a turn of the
 * event loop would also let the store's connection go, which the batch would then take again);
 * those woken by I/O, such as the requests of an HTTP server, only after the turn.
 */
const waitForCompany = (state: State, turn: Effect.Effect<void>): Effect.Effect<void> =>
  Effect.suspend(() => {
    let queued = state.queue.length
    let yields = 0
    const more: Effect.Effect<void> = Effect.suspend(() => {
      if (state.queue.length === 0) return turn
      if (state.queue.length === queued || ++yields >= MOST_YIELDS) return Effect.void
      queued = state.queue.length
      return Effect.zipRight(Effect.yieldNow(), more)
    })
    return Effect.zipRight(Effect.yieldNow(), more)
  })

export const make = <E>(runner: Runner<E>, options: Options) => {
  const state: State = { queue: [], active: 0, gathering: false, skip: 0, lonely: 0 }
  const start = startRunners(state, runner, options)
  const wait = waitForCompany(state, options.turn ?? nextTurn)

  /** After a transaction run alone: those that queued behind it (it yielded) are company. */
  const finished = Effect.suspend(() => {
    state.active--
    if (state.queue.length > 0) state.skip = state.lonely = 0
    return start
  })

  /** Run `self` now, in this fiber, counted as in flight (uninterruptibly) until it ends. */
  const runAlone = <A, E1, R>(self: Effect.Effect<A, E1, R>): Effect.Effect<A, E1 | E, R> =>
    Effect.uninterruptibleMask((restore) => {
      state.active++
      return Effect.matchCauseEffect(restore(runner.transaction(self)), {
        onFailure: (cause) => Effect.zipRight(finished, Effect.failCause(cause)),
        onSuccess: (value) => Effect.as(finished, value)
      })
    })

  /** Wait for others to queue; then commit `self` with them, or alone if none came. */
  const gather = <A, E1, R>(self: Effect.Effect<A, E1, R>): Effect.Effect<A, E1 | E, R> =>
    Effect.uninterruptibleMask((restore) => {
      state.gathering = true
      return Effect.flatMap(Effect.exit(restore(wait)), (waited): Effect.Effect<A, E1 | E, R> => {
        state.gathering = false
        // interrupted while waiting: those that queued meanwhile still commit
        if (Exit.isFailure(waited)) return Effect.zipRight(start, Effect.failCause(waited.cause))
        if (state.queue.length > 0) {
          state.lonely = 0
          return enqueue(state, options, start, self, true, restore)
        }
        state.lonely++
        state.skip = Math.min(2 ** state.lonely, MOST_SKIPPED)
        return restore(runAlone(self))
      })
    })

  return <A, E1, R>(self: Effect.Effect<A, E1, R>): Effect.Effect<A, E1 | E, R> =>
    Effect.suspend(() => {
      if (state.active > 0 || state.gathering || state.queue.length > 0) return enqueue(state, options, start, self)
      if (!options.yieldFirst) return runAlone(self)
      if (state.skip > 0) {
        state.skip--
        return runAlone(self)
      }
      return gather(self)
    })
}
