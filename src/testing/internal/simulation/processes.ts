/**
 * Simulated processes: each runs the real relay (and, for process managers, their deadlines) over
 * the shared in-memory database, with a command handler of its own. A process is killed by its
 * handler crashing or by the controller: its stores fail from then on (nothing it does commits)
 * and its fibers are interrupted (what it had in flight rolls back).
 */
import { Context, Effect, Exit, Layer, Scope } from "effect"
import type * as ProcessManager from "../../../core/ProcessManager.js"
import type * as Subscription from "../../../core/Subscription.js"
import * as CommandHandler from "../../../runtime/CommandHandler.js"
import * as Driver from "../../../runtime/internal/delivery/context.js"
import * as Relay from "../../../runtime/Relay.js"
import { instrument } from "./deliveries.js"
import { guard } from "./guard.js"
import { log, type State } from "./state.js"

export interface Process {
  readonly name: string
  readonly scope: Scope.CloseableScope
  alive: boolean
}

export interface Settings {
  readonly subscriptions: ReadonlyArray<Subscription.Any>
  readonly processManagers: ReadonlyArray<ProcessManager.Any>
  readonly pollInterval: number
  readonly leaseTtl: number
}

/** Start a process over the shared `stores`, with `services` (the signal, the user's services...). */
export const start = (
  state: State,
  name: string,
  stores: Context.Context<never>,
  services: Context.Context<never>,
  settings: Settings
): Effect.Effect<Process> =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const process: Process = { name, scope, alive: true }
    // killed from another fiber: the handler's own fiber is interrupted with its process
    const crash = Effect.zipRight(
      log(state, `fault handlerCrash: ${name} dies inside a handler`),
      Effect.forkDaemon(kill(state, process, "crash inside a handler"))
    )
    const clock = yield* Effect.clock
    const driver: Driver.Driver = {
      instrument: instrument(state, crash),
      yieldBetweenBatches: Effect.yieldNow(),
      leaseClock: clock
    }
    // the process's view of the database: dead with it
    const context = Context.merge(services, guard(stores, () => process.alive))
    const handler = Layer.effect(CommandHandler.CommandHandler, CommandHandler.make())
    const relay = Layer.scopedDiscard(Relay.make({
      subscriptions: settings.subscriptions,
      processManagers: settings.processManagers,
      owner: name,
      pollInterval: settings.pollInterval,
      leaseTtl: settings.leaseTtl
    })).pipe(Layer.provide(handler))
    yield* Layer.buildWithScope(relay, scope).pipe(
      Effect.provide(context as Context.Context<any>),
      Effect.provideService(Driver.CurrentDriver, driver)
    ) as Effect.Effect<unknown>
    yield* log(state, `start ${name}`)
    return process
  })

/** Kill a process: its stores fail from now on, its fibers are interrupted. */
export const kill = (state: State, process: Process, why: string): Effect.Effect<void> =>
  Effect.gen(function*() {
    if (!process.alive) return
    process.alive = false
    yield* Scope.close(process.scope, Exit.void)
    yield* log(state, `${why}: ${process.name} killed`)
  })

/** Stop a process without a trace (the end of a run). */
export const stop = (process: Process) =>
  Effect.suspend(() => {
    process.alive = false
    return Scope.close(process.scope, Exit.void)
  })
