/**
 * Deterministic simulation: run commands, subscriptions and process managers on the in-memory
 * adapters, under `TestClock`, with a seeded scheduler in place of the relay that decides, step by
 * step, what happens next and injects faults:
 * - `crash`: the process dies between commit and delivery (every worker restarts from its
 *   checkpoint);
 * - `handlerCrash`: it dies inside a handler, before the checkpoint commits (rolled back, delivered
 *   again);
 * - `duplicate`: a delivered batch is delivered once more (an at-least-once transport);
 * - `failure`: a handler fails (retried; never more than `maxAttempts - 1` times in a row);
 * - `leaseExpiry`: a worker's lease expires and another process takes it (the stale worker's
 *   commit is fenced off);
 * - reordering: which partition delivers next, and when time moves, is drawn from the seed.
 *
 * At quiescence (the workload done, every partition caught up, no deadline left) it checks
 * convergence (every checkpoint at the head of the log, nothing dead-lettered) and the user's
 * invariants. The same seed replays the same run: a failure reports the seed and the trace.
 *
 * @since 0.1.0
 * @module
 */
import { Cause, Clock, Duration, Effect, Either, Layer, Option, Schema, TestClock, TestContext } from "effect"
import * as MemoryEventStore from "../adapters/memory/MemoryEventStore.js"
import * as DomainEvent from "../core/DomainEvent.js"
import * as ProcessManager from "../core/ProcessManager.js"
import * as Subscription from "../core/Subscription.js"
import { Checkpoints } from "../ports/Checkpoints.js"
import * as DeadLetters from "../ports/DeadLetters.js"
import { Deadlines } from "../ports/Deadlines.js"
import { EventStore, type LogCursor, type LoggedEvent } from "../ports/EventStore.js"
import * as IdGenerator from "../ports/IdGenerator.js"
import type { Inbox } from "../ports/Inbox.js"
import type { SubscriptionRegistry } from "../ports/SubscriptionRegistry.js"
import * as CommandHandler from "../runtime/CommandHandler.js"

/**
 * Probabilities (0..1) of each fault at a step.
 *
 * @since 0.1.0
 * @category models
 */
export interface Faults {
  readonly crash?: number
  readonly handlerCrash?: number
  readonly duplicate?: number
  readonly failure?: number
  readonly leaseExpiry?: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options<R> {
  readonly seed: number
  /** Async subscriptions to deliver (sync ones belong to `CommandHandler`). */
  readonly subscriptions?: ReadonlyArray<Subscription.Any>
  readonly processManagers?: ReadonlyArray<ProcessManager.Any>
  /** The commands to run, in order, interleaved with deliveries. */
  readonly workload: ReadonlyArray<Effect.Effect<unknown, unknown, CommandHandler.CommandHandler>>
  /** Checked at quiescence: fail (or throw) when violated. */
  readonly invariants: Effect.Effect<
    unknown,
    unknown,
    CommandHandler.CommandHandler | EventStore | Checkpoints | DeadLetters.DeadLetters
  >
  /** What the handlers need beside the stores (e.g. a fake gateway). */
  readonly layer?: Layer.Layer<R>
  readonly faults?: Faults
  /** Consecutive failures of one delivery before it is dead-lettered (default 5). */
  readonly maxAttempts?: number
  /** The longest a single tick moves the clock (default 2 seconds). */
  readonly maxTick?: Duration.DurationInput
  /** A run that has not quiesced after this many steps fails (default 100,000). */
  readonly maxSteps?: number
}

/**
 * Default fault rates: each kind now and then.
 *
 * @since 0.1.0
 * @category constructors
 */
export const defaultFaults: Required<Faults> = {
  crash: 0.01,
  handlerCrash: 0.03,
  duplicate: 0.03,
  failure: 0.05,
  leaseExpiry: 0.01
}

/**
 * What a run did.
 *
 * @since 0.1.0
 * @category models
 */
export interface Report {
  readonly seed: number
  readonly steps: number
  readonly trace: ReadonlyArray<string>
  readonly faults: Readonly<Record<keyof Faults, number>>
}

/**
 * A run broke an invariant, did not converge, or did not quiesce. Its message names the seed
 * (rerun with it to reproduce the run exactly) and ends with the fault trace.
 *
 * @since 0.1.0
 * @category errors
 */
export class SimulationFailed extends Schema.TaggedError<SimulationFailed>()("SimulationFailed", {
  seed: Schema.Number,
  reason: Schema.String,
  trace: Schema.Array(Schema.String)
}) {
  override get message() {
    const tail = this.trace.slice(-60)
    return `simulation failed with seed ${this.seed}: ${this.reason}\n` +
      `rerun with { seed: ${this.seed} } to reproduce it; the last ${tail.length} of ${this.trace.length} steps:\n` +
      tail.join("\n")
  }
}

/**
 * A small, fast, seeded generator of numbers in [0, 1) (mulberry32), for reproducible fault
 * injection in tests.
 *
 * @since 0.1.0
 * @category constructors
 */
export const generator = (seed: number): () => number => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** A fault injected into a handler. */
class InjectedFault {
  readonly _tag = "InjectedFault"
  constructor(readonly kind: "failure" | "handlerCrash") {}
}

interface Worker {
  readonly subscription: Subscription.Any
  readonly partition: number
  readonly filter: ReturnType<typeof Subscription.logFilter>
  cursor: LogCursor | undefined
  token: number | undefined
  attempts: number
}

const LEASE_TTL = 60_000

const describeEvent = (event: LoggedEvent) =>
  `${event.aggregateType}/${event.aggregateId}@${event.version} ${event.eventType}`

const describeCause = (cause: Cause.Cause<unknown>) => {
  const error = Cause.squash(cause)
  return error instanceof Error ? error.message : typeof error === "object" && error !== null && "_tag" in error
    ? String((error as { _tag: unknown })._tag)
    : String(error)
}

/**
 * Run one simulation.
 *
 * @since 0.1.0
 * @category constructors
 */
export const run = <R>(options: Options<R>): Effect.Effect<Report, SimulationFailed> => {
  const next = generator(options.seed)
  const chance = (p: number | undefined) => p !== undefined && p > 0 && next() < p
  const pick = <A>(items: ReadonlyArray<A>): A => items[Math.floor(next() * items.length)]!
  const faults = { ...defaultFaults, ...options.faults }
  const maxAttempts = options.maxAttempts ?? 5
  const maxTick = Duration.toMillis(options.maxTick ?? "2 seconds")
  const maxSteps = options.maxSteps ?? 100_000
  const trace: Array<string> = []
  const counts: Record<keyof Faults, number> = { crash: 0, handlerCrash: 0, duplicate: 0, failure: 0, leaseExpiry: 0 }
  const processManagers = options.processManagers ?? []
  const subscriptions = [
    ...(options.subscriptions ?? []),
    ...processManagers.flatMap(ProcessManager.subscriptions)
  ].filter((s) => s.mode === "async")

  const program = Effect.gen(function*() {
    const store = yield* EventStore
    const checkpoints = yield* Checkpoints
    const deadLetters = yield* DeadLetters.DeadLetters
    const deadlines = yield* Deadlines
    const context = yield* Effect.context<never>()
    let owner = 0
    let step = 0
    const log = (line: string) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        trace.push(`#${step} t=${now} ${line}`)
      })
    const fail = (reason: string) => new SimulationFailed({ seed: options.seed, reason, trace })

    const workers: Array<Worker> = subscriptions.flatMap((subscription) =>
      Array.from({ length: subscription.partitions }, (_, partition) => ({
        subscription,
        partition,
        filter: Subscription.logFilter(subscription, partition),
        cursor: undefined,
        token: undefined,
        attempts: 0
      }))
    )

    const acquire = (worker: Worker) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const lease = yield* checkpoints.acquireLease(
          worker.subscription.name,
          worker.partition,
          `sim-${owner}`,
          now,
          LEASE_TTL
        )
        if (Option.isNone(lease)) {
          return yield* Effect.die(`lease of ${worker.subscription.name}/${worker.partition} refused`)
        }
        worker.token = lease.value.token
        worker.cursor = yield* checkpoints.get(worker.subscription.name, worker.partition)
      })

    const pending = (worker: Worker) =>
      Effect.gen(function*() {
        if (worker.token === undefined) yield* acquire(worker)
        return yield* store.readAll(worker.cursor!, 3, worker.filter)
      })

    /** Deliver a batch in one transaction with its checkpoint, maybe with a fault injected. */
    const deliver = (worker: Worker, events: ReadonlyArray<LoggedEvent>) =>
      Effect.gen(function*() {
        const name = `${worker.subscription.name}/${worker.partition}`
        const injected = worker.attempts < maxAttempts - 1
          ? chance(faults.failure) ? new InjectedFault("failure") : chance(faults.handlerCrash)
            ? new InjectedFault("handlerCrash")
            : undefined
          : undefined
        const last = events[events.length - 1]!
        const result = yield* Effect.either(
          store.withTransaction(Effect.gen(function*() {
            for (const event of events) {
              const aggregate = Subscription.aggregateOf(worker.subscription, event.aggregateType)!
              const decoded = DomainEvent.decodeStoredEither(aggregate, event)
              if (Either.isLeft(decoded)) {
                yield* deadLetters.add(deadLetter(worker, event, "poison", decoded.left.message, 1, 0))
                continue
              }
              yield* (worker.subscription.handle(decoded.right.payload, decoded.right) as Effect.Effect<void, unknown>)
            }
            if (injected !== undefined) return yield* Effect.fail(injected)
            yield* checkpoints.save(worker.subscription.name, worker.partition, {
              commitOrder: last.commitOrder,
              position: last.position
            }, worker.token!)
          })).pipe(Effect.provide(context))
        )
        if (Either.isRight(result)) {
          yield* log(`deliver ${name}: ${events.map(describeEvent).join(", ")}`)
          worker.attempts = 0
          const before = worker.cursor!
          worker.cursor = { commitOrder: last.commitOrder, position: last.position }
          if (chance(faults.duplicate)) {
            counts.duplicate++
            // an at-least-once transport: the same batch comes again
            yield* checkpoints.save(worker.subscription.name, worker.partition, before, worker.token!)
            worker.cursor = before
            yield* log(`fault duplicate: ${name} will receive that batch again`)
          }
          return
        }
        const error = result.left
        if (error instanceof InjectedFault) {
          counts[error.kind]++
          worker.attempts++
          yield* log(`fault ${error.kind}: ${name} rolled back ${events.map(describeEvent).join(", ")}`)
          if (error.kind === "handlerCrash") yield* restartAll
          return
        }
        if (typeof error === "object" && error !== null && (error as { _tag?: unknown })._tag === "LeaseLost") {
          yield* log(`fenced: ${name} lost its lease, nothing committed`)
          worker.token = undefined
          return
        }
        worker.attempts++
        yield* log(`failed ${name} (attempt ${worker.attempts}): ${describeCause(Cause.fail(error))}`)
        if (worker.attempts >= maxAttempts) {
          // dead-letter the first event alone, as the relay does after its retries
          const first = events[0]!
          const now = yield* Clock.currentTimeMillis
          yield* store.withTransaction(Effect.zipRight(
            deadLetters.add(
              deadLetter(worker, first, "failed", describeCause(Cause.fail(error)), worker.attempts, now)
            ),
            checkpoints.save(worker.subscription.name, worker.partition, {
              commitOrder: first.commitOrder,
              position: first.position
            }, worker.token!)
          ))
          worker.cursor = { commitOrder: first.commitOrder, position: first.position }
          worker.attempts = 0
          yield* log(`dead-lettered ${describeEvent(first)} for ${name}`)
        }
      })

    const restartAll = Effect.gen(function*() {
      owner++
      for (const worker of workers) {
        worker.token = undefined
        worker.cursor = undefined
        worker.attempts = 0
      }
      // the leases of the dead process expire before the new one takes them
      yield* TestClock.adjust(Duration.millis(LEASE_TTL))
      yield* log(`restart: process sim-${owner} takes over from its checkpoints`)
    })

    const tick = Effect.gen(function*() {
      const by = Math.floor(next() * maxTick)
      yield* TestClock.adjust(Duration.millis(by))
      for (const pm of processManagers) {
        const delivered = yield* ProcessManager.deliverDueDeadlines(pm).pipe(Effect.provide(context))
        if (delivered > 0) yield* log(`deadlines: ${delivered} of ${pm.name} delivered`)
      }
    })

    const nextDeadline = Effect.gen(function*() {
      let earliest: number | undefined
      for (const pm of processManagers) {
        const at = yield* deadlines.next(pm.name)
        if (Option.isSome(at) && (earliest === undefined || at.value < earliest)) earliest = at.value
      }
      return earliest
    })

    let command = 0
    while (true) {
      step++
      if (step > maxSteps) return yield* fail(`no quiescence after ${maxSteps} steps`)
      const ready: Array<readonly [Worker, ReadonlyArray<LoggedEvent>]> = []
      for (const worker of workers) {
        const events = yield* pending(worker)
        if (events.length > 0) ready.push([worker, events])
      }
      const commandsLeft = command < options.workload.length
      if (!commandsLeft && ready.length === 0) {
        const due = yield* nextDeadline
        if (due === undefined) break
        const now = yield* Clock.currentTimeMillis
        yield* TestClock.adjust(Duration.millis(Math.max(due - now, 0)))
        yield* tick
        continue
      }
      if (chance(faults.crash)) {
        counts.crash++
        yield* log("fault crash: between commit and delivery")
        yield* restartAll
        continue
      }
      if (ready.length > 0 && chance(faults.leaseExpiry)) {
        counts.leaseExpiry++
        const [worker] = pick(ready)
        const now = yield* Clock.currentTimeMillis
        // another process takes the expired lease, then gives it up again; the worker's token is stale
        yield* checkpoints.acquireLease(
          worker.subscription.name,
          worker.partition,
          `intruder-${step}`,
          now + LEASE_TTL,
          LEASE_TTL
        )
        yield* checkpoints.releaseLease(worker.subscription.name, worker.partition, `intruder-${step}`)
        yield* log(`fault leaseExpiry: ${worker.subscription.name}/${worker.partition} was taken over`)
      }
      const roll = next()
      if (commandsLeft && (ready.length === 0 || roll < 0.3)) {
        const result = yield* Effect.either(options.workload[command]!.pipe(Effect.provide(context)))
        yield* log(
          `command ${command}: ${Either.isRight(result) ? "ok" : `refused (${describeCause(Cause.fail(result.left))})`}`
        )
        command++
      } else if (ready.length > 0 && roll < 0.9) {
        const [worker, events] = pick(ready)
        const most = Math.min(events.length, worker.subscription.batchSize ?? events.length)
        yield* deliver(worker, events.slice(0, 1 + Math.floor(next() * most)))
      } else {
        yield* tick
      }
    }

    // quiescence: convergence, then the user's invariants
    const head = yield* store.readAll({ commitOrder: 0, position: 0 }, Number.MAX_SAFE_INTEGER)
    for (const worker of workers) {
      const checkpoint = yield* checkpoints.get(worker.subscription.name, worker.partition)
      const undelivered = head.filter((e) =>
        Subscription.handles(worker.subscription, e.aggregateType, e.eventType) &&
        Subscription.partitionOf(e.aggregateId, worker.subscription.partitions) === worker.partition &&
        (e.commitOrder > checkpoint.commitOrder ||
          (e.commitOrder === checkpoint.commitOrder && e.position > checkpoint.position))
      )
      if (undelivered.length > 0) {
        return yield* fail(
          `${worker.subscription.name}/${worker.partition} did not deliver ${describeEvent(undelivered[0]!)}`
        )
      }
    }
    const letters = yield* deadLetters.list({})
    if (letters.length > 0) {
      return yield* fail(
        `dead-lettered: ${letters.map((l) => `${l.subscription} ${l.eventType} (${l.error})`).join("; ")}`
      )
    }
    const checked = yield* Effect.exit(options.invariants.pipe(Effect.provide(context)))
    if (checked._tag === "Failure") return yield* fail(`invariant broken: ${describeCause(checked.cause)}`)
    yield* log("quiescent: converged, invariants hold")
    return { seed: options.seed, steps: step, trace, faults: counts }
  })

  const stores = Layer.provideMerge(CommandHandler.layer(), MemoryEventStore.layer)
  const layer = Layer.mergeAll(
    stores,
    options.layer ?? (Layer.empty as unknown as Layer.Layer<R>),
    IdGenerator.layerSequential
  )
  return program.pipe(
    Effect.provide(
      layer as Layer.Layer<
        | CommandHandler.CommandHandler
        | EventStore
        | Checkpoints
        | DeadLetters.DeadLetters
        | Deadlines
        | Inbox
        | SubscriptionRegistry
      >
    ),
    Effect.provide(TestContext.TestContext),
    Effect.catchAllDefect((defect) =>
      Effect.fail(new SimulationFailed({ seed: options.seed, reason: `defect: ${String(defect)}`, trace }))
    ),
    Effect.mapError((error) =>
      error instanceof SimulationFailed
        ? error
        : new SimulationFailed({ seed: options.seed, reason: `store failure: ${String(error)}`, trace })
    )
  ) as Effect.Effect<Report, SimulationFailed>
}

const deadLetter = (
  worker: Worker,
  event: LoggedEvent,
  kind: DeadLetters.DeadLetter["kind"],
  error: string,
  attempts: number,
  at: number
): DeadLetters.DeadLetter => ({
  id: `${worker.subscription.name}:${event.eventId}`,
  subscription: worker.subscription.name,
  partition: worker.partition,
  kind,
  eventId: event.eventId,
  position: event.position,
  aggregateType: event.aggregateType,
  aggregateId: event.aggregateId,
  version: event.version,
  eventType: event.eventType,
  error,
  attempts,
  firstFailedAt: at,
  lastFailedAt: at,
  status: "open"
})
