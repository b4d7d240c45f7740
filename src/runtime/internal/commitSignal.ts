/**
 * The in-process wake-up: the command handler signals after each commit that appended events,
 * and the relay, waiting for new events, wakes at once instead of at its next poll. Commits made
 * by other processes arrive as `wake` (e.g. from PostgreSQL LISTEN), which wakes the waiters
 * without counting as a local commit, so a forwarder never echoes them back.
 *
 * @since 0.1.0
 * @module
 */
import { Context, Deferred, type Duration, Effect, Exit, FiberId } from "effect"

/**
 * What a local commit appended: events of an aggregate type, on the stream with this hash
 * (`EventStore.streamHash` of the aggregate id).
 *
 * @since 0.1.0
 * @category models
 */
export interface Committed {
  readonly aggregateType: string
  readonly streamHash: number
}

/**
 * The commits a waiter wants to hear of: events of these aggregate types (all when absent), on
 * the streams of one partition (all when absent). A `LogFilter` is one.
 *
 * @since 0.1.0
 * @category models
 */
export interface Interest {
  readonly sources?: ReadonlyArray<{ readonly aggregateType: string }> | undefined
  readonly partition?: { readonly count: number; readonly index: number } | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** A local commit appended events (of unknown kinds): wake every waiter and every commit listener. */
  readonly notify: Effect.Effect<void>
  /**
   * A local commit appended these events: wake the waiters interested in one of them, and every
   * commit listener.
   */
  readonly committed: (events: ReadonlyArray<Committed>) => Effect.Effect<void>
  /** Events were committed elsewhere: wake every waiter. */
  readonly wake: Effect.Effect<void>
  /**
   * These events were committed elsewhere: wake the waiters interested in one of them (not the
   * commit listeners: it is not a local commit).
   */
  readonly wakeFor: (events: ReadonlyArray<Committed>) => Effect.Effect<void>
  /**
   * What was committed locally since the last call, for a forwarder to tell other processes;
   * `undefined` when that is unknown (a `notify`) or too much to list.
   */
  readonly takeCommitted: Effect.Effect<ReadonlyArray<Committed> | undefined>
  /**
   * A wait for the next wake-up: take it *before* looking for work, then await it if there was
   * none, so a commit in between is never missed.
   */
  readonly next: Effect.Effect<Effect.Effect<void>>
  /**
   * A wait for the next wake-up that concerns `interest` (taken and awaited like `next`): a
   * commit of events it is interested in, a `notify` or a `wake`. A relay's partition waits for
   * its own events only, so a commit does not wake every partition of every subscription.
   */
  readonly nextOf: (interest: Interest) => Effect.Effect<Effect.Effect<void>>
  /** A wait for the next local commit (taken before, awaited after, like `next`). */
  readonly nextCommit: Effect.Effect<Effect.Effect<void>>
}

/** A latch reopened by `open`; a new one is made only when a wait was taken on the current one. */
const makeLatch = () => {
  let current = Deferred.unsafeMake<void>(FiberId.none)
  let taken = false
  return {
    /** Open the latch now (in one step of the caller's fiber, for `notify` on every command). */
    unsafeOpen: () => {
      if (!taken) return
      taken = false
      const previous = current
      current = Deferred.unsafeMake<void>(FiberId.none)
      Deferred.unsafeDone(previous, Exit.void)
    },
    next: Effect.sync(() => {
      taken = true
      return Deferred.await(current)
    })
  }
}

type Latch = ReturnType<typeof makeLatch>

/** The latch of the waiters with one interest, and what it matches. */
interface Interested {
  readonly types: ReadonlySet<string> | undefined
  readonly partition: { readonly count: number; readonly index: number } | undefined
  readonly latch: Latch
}

const concerns = (interested: Interested, event: Committed) =>
  (interested.types === undefined || interested.types.has(event.aggregateType)) &&
  (interested.partition === undefined || interested.partition.count <= 1 ||
    event.streamHash % interested.partition.count === interested.partition.index)

/** Most distinct streams `takeCommitted` lists; beyond that it reports "unknown". */
const MOST_LISTED = 100

/**
 * A fresh signal.
 *
 * @since 0.1.0
 * @category constructors
 */
export const unsafeMake = (): Service => {
  const waiters = makeLatch()
  const commits = makeLatch()
  /** One latch per distinct interest (a subscription's partition), made on first use. */
  const interests = new Map<string, Interested>()
  /** Committed locally since the last `takeCommitted`, by key; undefined: unknown or too many. */
  let recent: Map<string, Committed> | undefined = new Map()
  const openAll = () => {
    waiters.unsafeOpen()
    for (const interested of interests.values()) interested.latch.unsafeOpen()
  }
  const openFor = (events: ReadonlyArray<Committed>) => {
    waiters.unsafeOpen()
    for (const interested of interests.values()) {
      if (events.some((event) => concerns(interested, event))) interested.latch.unsafeOpen()
    }
  }
  return {
    notify: Effect.sync(() => {
      recent = undefined
      commits.unsafeOpen()
      openAll()
    }),
    committed: (events) =>
      Effect.sync(() => {
        if (recent !== undefined) {
          for (const event of events) recent.set(`${event.streamHash}:${event.aggregateType}`, event)
          if (recent.size > MOST_LISTED) recent = undefined
        }
        commits.unsafeOpen()
        openFor(events)
      }),
    wake: Effect.sync(openAll),
    wakeFor: (events) => Effect.sync(() => openFor(events)),
    takeCommitted: Effect.sync(() => {
      const taken = recent === undefined ? undefined : [...recent.values()]
      recent = new Map()
      return taken
    }),
    next: waiters.next,
    nextOf: (interest) =>
      Effect.suspend(() => {
        const types = interest.sources?.map((source) => source.aggregateType)
        const key = `${types === undefined ? "*" : [...types].sort().join(",")}|${
          interest.partition === undefined ? "*" : `${interest.partition.index}/${interest.partition.count}`
        }`
        let interested = interests.get(key)
        if (interested === undefined) {
          interested = {
            types: types === undefined ? undefined : new Set(types),
            partition: interest.partition,
            latch: makeLatch()
          }
          interests.set(key, interested)
        }
        return interested.latch.next
      }),
    nextCommit: commits.next
  }
}

/**
 * Collects what the commands run inside a transaction append, to signal it once the transaction
 * has committed (a command inside a transaction cannot signal itself: nobody can read its events
 * before the commit). The relay collects around each delivery.
 *
 * @since 0.1.0
 * @category models
 */
export interface Collector {
  readonly events: Array<Committed>
  /** False once the collector's transaction has ended: later commits signal themselves. */
  open: boolean
}

/**
 * The collector of the current transaction, if someone collects. A service, not a fiber
 * reference, so that it follows a transaction that group commit runs in another fiber.
 *
 * @since 0.1.0
 * @category tags
 */
export class Collecting extends Context.Tag("effect-ddd/CommitSignal/Collecting")<Collecting, Collector>() {}

/**
 * Run `self` (a transaction) collecting what the commands inside it append, then signal that on
 * success (only then has it committed).
 *
 * @since 0.1.0
 * @category combinators
 */
export const collecting = <A, E, R>(
  signal: Service,
  self: Effect.Effect<A, E, R>
): Effect.Effect<A, E, Exclude<R, Collecting>> =>
  Effect.suspend(() => {
    const collected: Collector = { events: [], open: true }
    return Effect.provideService(self, Collecting, collected).pipe(
      Effect.ensuring(Effect.sync(() => (collected.open = false))),
      Effect.tap(() => (collected.events.length > 0 ? signal.committed(collected.events) : Effect.void))
    )
  })

const shared = unsafeMake()

/**
 * The signal; one per process unless another is provided.
 *
 * @since 0.1.0
 * @category tags
 */
export class CommitSignal extends Context.Reference<CommitSignal>()("effect-ddd/CommitSignal", {
  defaultValue: (): Service => shared
}) {}

/**
 * Wait for a taken notification or the timeout, whichever comes first.
 *
 * @since 0.1.0
 * @category combinators
 */
export const awaitOrTimeout = (wait: Effect.Effect<void>, timeout: Duration.DurationInput): Effect.Effect<void> =>
  Effect.asVoid(Effect.timeoutOption(wait, timeout))
