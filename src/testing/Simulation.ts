/**
 * Deterministic simulation: run commands, subscriptions and process managers on the in-memory
 * adapters with the real relay — the very delivery engine production runs — in simulated
 * processes, under `TestClock` and a seeded scheduler that decides which ready fiber runs next.
 * Faults are injected around it:
 * - `crash`: a process dies between commit and delivery (its leases expire, another process
 *   takes over from the checkpoints);
 * - `handlerCrash`: a process dies inside a handler, before its transaction commits (rolled back,
 *   delivered again);
 * - `duplicate`: a partition's checkpoint is moved back over its last events (an at-least-once
 *   transport delivers them again);
 * - `failure`: a handler fails (retried under the subscription's schedule; never more than
 *   `maxAttempts - 1` times for one event);
 * - `exhaust`: a handler fails until an operator redrives it (dead-lettered, the aggregate's later
 *   events parked, then redriven in order);
 * - `leaseExpiry`: another process takes a partition's lease over (the holder's commit is fenced
 *   off);
 * - reordering: the order in which ready fibers run, and how time moves, are drawn from the seed.
 *
 * Every delivery that commits is recorded; at quiescence (the workload done, dead letters
 * redriven, every partition caught up, no deadline left) the run checks the delivery rules — each
 * event delivered, in order per aggregate, never twice unless a duplicate was injected — and the
 * user's invariants. The same seed replays the same run: a failure reports the seed and the trace.
 *
 * @since 0.1.0
 * @module
 */
import { Context, Duration, Effect, Either, Fiber, Layer, Logger, LogLevel, Option, Random, Schema } from "effect"
import * as MemoryEventStore from "../adapters/memory/MemoryEventStore.js"
import * as ProcessManager from "../core/ProcessManager.js"
import type * as Subscription from "../core/Subscription.js"
import * as Telemetry from "../operations/Telemetry.js"
import type { Checkpoints } from "../ports/Checkpoints.js"
import type { DeadLetters } from "../ports/DeadLetters.js"
import type { EventStore } from "../ports/EventStore.js"
import * as IdGenerator from "../ports/IdGenerator.js"
import * as CommandHandler from "../runtime/CommandHandler.js"
import * as CommitSignal from "../runtime/internal/commitSignal.js"
import * as Checks from "./internal/simulation/checks.js"
import { VirtualClock } from "./internal/simulation/clock.js"
import * as Controller from "./internal/simulation/controller.js"
import { SeededScheduler } from "./internal/simulation/scheduler.js"
import * as State from "./internal/simulation/state.js"

/**
 * Probabilities (0..1) of each fault: per controller step for `crash`, `duplicate` and
 * `leaseExpiry`, per delivery for the others.
 *
 * @since 0.1.0
 * @category models
 */
export interface Faults {
  readonly crash?: number
  readonly handlerCrash?: number
  readonly duplicate?: number
  readonly failure?: number
  readonly exhaust?: number
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
    CommandHandler.CommandHandler | EventStore | Checkpoints | DeadLetters
  >
  /** What the handlers need beside the stores (e.g. a fake gateway). */
  readonly layer?: Layer.Layer<R>
  readonly faults?: Faults
  /** Injected failures of one delivery stay below this (default 3). */
  readonly maxAttempts?: number
  /** The longest a single tick moves the clock (default 2 seconds). */
  readonly maxTick?: Duration.DurationInput
  /** A run that has not quiesced after this many controller steps fails (default 10,000). */
  readonly maxSteps?: number
  /** The simulated processes running the relay at once (default 2). */
  readonly processes?: number
}

/**
 * Default fault rates: each kind now and then.
 *
 * @since 0.1.0
 * @category constructors
 */
export const defaultFaults: Required<Faults> = {
  crash: 0.01,
  handlerCrash: 0.02,
  duplicate: 0.03,
  failure: 0.05,
  exhaust: 0.01,
  leaseExpiry: 0.02
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
 * A run broke an invariant or a delivery rule, did not converge, or did not quiesce. Its message
 * names the seed (rerun with it to reproduce the run exactly) and ends with the trace.
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
 * A seeded generator of numbers in [0, 1) (Effect's PCG generator, as `Random` uses), for
 * reproducible draws in tests.
 *
 * @since 0.1.0
 * @category constructors
 */
export const generator: (seed: number) => () => number = State.generator

/** The relay's settings in a simulation: leases outlive the ticks, polling is a rare fallback. */
const POLL_INTERVAL = 5_000
const LEASE_TTL = 60_000

/**
 * Run one simulation.
 *
 * @since 0.1.0
 * @category constructors
 */
export const run = <R>(options: Options<R>): Effect.Effect<Report, SimulationFailed> => {
  const state = State.make(options.seed, { ...defaultFaults, ...options.faults }, options.maxAttempts ?? 3)
  const processManagers = options.processManagers ?? []
  const settings = {
    subscriptions: options.subscriptions?.filter((s) => s.mode === "async") ?? [],
    processManagers,
    pollInterval: POLL_INTERVAL,
    leaseTtl: LEASE_TTL
  }
  const fail = (reason: string) => new SimulationFailed({ seed: options.seed, reason, trace: state.trace })
  const maxTick = Duration.toMillis(options.maxTick ?? "2 seconds")
  const maxSteps = options.maxSteps ?? 10_000
  const processes = options.processes ?? 2

  const scheduler = new SeededScheduler(State.generator(options.seed ^ 0x5eed))
  const clock = new VirtualClock(scheduler)
  const program = Effect.gen(function*() {
    const stores = yield* MemoryEventStore.makeStores
    const user = yield* Layer.build(options.layer ?? (Layer.empty as unknown as Layer.Layer<R>))
    const services = Context.make(CommitSignal.CommitSignal, CommitSignal.unsafeMake()).pipe(
      Context.add(IdGenerator.IdGenerator, IdGenerator.sequential()),
      Context.add(Telemetry.Enabled, { metrics: false, tracing: false, appendSpans: false }),
      Context.merge(user)
    ) as Context.Context<never>
    // every subscription the processes run, for the checks (process managers' included)
    const all = [...settings.subscriptions, ...processManagers.flatMap((pm) => ProcessManager.subscriptions(pm))]
    const world: Controller.World = {
      state,
      stores,
      services,
      settings,
      subscriptions: all,
      processes: [],
      maxTick,
      clock,
      scheduler,
      redriven: new Map(),
      started: 0
    }
    const client = Context.merge(services, stores)
    const handler = yield* Effect.provide(CommandHandler.make(), client)
    const clientContext = Context.add(client, CommandHandler.CommandHandler, handler)
    // the workload comes from outside the processes, each command after a drawn pause
    const workload = yield* Effect.forEach(options.workload, (command, i) =>
      Effect.gen(function*() {
        yield* Effect.sleep(Duration.millis(Math.floor(state.next() * maxTick)))
        const result = yield* Effect.either(command)
        yield* State.log(
          state,
          `command ${i}: ${Either.isRight(result) ? "ok" : `refused (${Checks.describe(result.left)})`}`
        )
      }), { discard: true }).pipe(Effect.provide(clientContext), Effect.fork)
    yield* Effect.addFinalizer(() => Controller.stopAll(world))
    for (let i = 0; i < processes; i++) yield* Controller.startProcess(world)

    while (true) {
      state.step++
      if (state.step > maxSteps) return yield* fail(`no quiescence after ${maxSteps} steps`)
      yield* Controller.replaceDead(world, processes)
      if (Option.isNone(yield* Fiber.poll(workload))) {
        yield* Controller.step(world)
        yield* Controller.breathe(world)
        continue
      }
      const redrive = yield* Controller.redriveAll(world)
      if (redrive.exhausted.length > 0) {
        return yield* fail(
          `dead-lettered: ${redrive.exhausted.map((l) => `${l.subscription} ${l.eventType} (${l.error})`).join("; ")}`
        )
      }
      const caughtUp = redrive.letters === 0 && (yield* Controller.caughtUp(world))
      const due = yield* Controller.nextDeadline(world, processManagers)
      if (caughtUp && due === undefined) break
      yield* caughtUp && due !== undefined ? Controller.until(world, due) : Controller.tick(world)
      yield* Controller.breathe(world)
    }

    // quiescence: the delivery rules, then the user's invariants
    yield* Controller.stopAll(world)
    const broken = yield* Checks.deliveryRules(state, all).pipe(Effect.provide(clientContext))
    if (broken.length > 0) return yield* fail(broken.join("; "))
    const checked = yield* Effect.exit(options.invariants.pipe(Effect.provide(clientContext)))
    if (checked._tag === "Failure") return yield* fail(`invariant broken: ${Checks.describeCause(checked.cause)}`)
    yield* State.log(state, "quiescent: converged, delivery rules and invariants hold")
    return { seed: options.seed, steps: state.step, trace: state.trace, faults: state.counts }
  })

  return program.pipe(
    Effect.scoped,
    Effect.withScheduler(scheduler),
    Effect.withMaxOpsBeforeYield(16 + Math.floor(State.generator(options.seed ^ 0x0b5)() * 240)),
    Effect.withRandom(Random.make(options.seed)),
    Logger.withMinimumLogLevel(LogLevel.Debug),
    Effect.provide(Logger.replace(Logger.defaultLogger, Checks.traceLogger(state))),
    Effect.withClock(clock),
    Effect.catchAllDefect((defect) => Effect.fail(fail(`defect: ${String(defect)}`))),
    Effect.mapError((error) =>
      error instanceof SimulationFailed ? error : fail(`store failure: ${Checks.describe(error)}`)
    )
  ) as Effect.Effect<Report, SimulationFailed>
}
