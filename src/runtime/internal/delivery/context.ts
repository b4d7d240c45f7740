/**
 * What the delivery engine works with: the stores, the wake-up signal, telemetry hooks, the
 * relay's settings, and the driver that says how time passes between steps. The relay drives it
 * with real time; the deterministic simulation with `TestClock` and a seeded scheduler.
 */
import { Clock, Context, Effect } from "effect"
import type * as Subscription from "../../../core/Subscription.js"
import type * as Instrumentation from "../../../operations/internal/instrumentation.js"
import type * as Checkpoints from "../../../ports/Checkpoints.js"
import type * as DeadLetters from "../../../ports/DeadLetters.js"
import type * as EventStore from "../../../ports/EventStore.js"
import type * as CommitSignal from "../commitSignal.js"

/** How time passes for the engine, and what it delivers. */
export interface Driver {
  /** The subscription as the engine delivers it (the simulation injects its faults here). */
  readonly instrument: (subscription: Subscription.Any) => Subscription.Any
  /** Let other work run between two batches of a partition. */
  readonly yieldBetweenBatches: Effect.Effect<void>
  /** The clock leases are renewed by (real time: a lease is about a process that stopped). */
  readonly leaseClock: Clock.Clock
}

/** The event loop's next turn, after the I/O callbacks already due (no 1 ms timer clamp). */
const nextTurn = Effect.async<void>((resume) => {
  const handle = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(handle))
})

/**
 * The driver relays are built with: real time by default. Between batches a worker lets timers
 * and I/O run (a synchronous driver never yields on its own): setImmediate, not a zero sleep,
 * since Node runs a 0 ms timer after 1 ms at the earliest.
 */
export class CurrentDriver extends Context.Reference<CurrentDriver>()("effect-ddd/Relay/Driver", {
  defaultValue: (): Driver => ({
    instrument: (subscription) => subscription,
    yieldBetweenBatches: nextTurn,
    leaseClock: Clock.make()
  })
}) {}

/** Shared by every partition worker of one relay. */
export interface Engine {
  readonly store: EventStore.Service
  readonly checkpoints: Checkpoints.Service
  readonly deadLetters: DeadLetters.Service
  readonly signal: CommitSignal.Service
  readonly telemetry: Instrumentation.RelayHooks
  readonly driver: Driver
  /** This process's name in leases. */
  readonly owner: string
  /** Most events read and committed at once per partition, unless the subscription says. */
  readonly batchSize: number
  /** Fallback polling when no wake-up arrives. */
  readonly pollMillis: number
  /** How long a lease lasts without renewal. */
  readonly leaseTtlMillis: number
  /** Bumped by a local redrive or discard, so workers read their dead letters again at once. */
  readonly deadLettersChanged: { value: number }
  /** On while the relay delivers; off after `pause`. */
  readonly running: Switch
}

/** On or off, with a wait for on. */
export interface Switch {
  readonly isOn: () => boolean
  /** Completes at once when on, else when switched on. */
  readonly awaitOn: Effect.Effect<void>
  readonly on: Effect.Effect<void>
  readonly off: Effect.Effect<void>
}

/** A switch, on. */
export const makeSwitch = (): Switch => {
  const latch = Effect.unsafeMakeLatch(true)
  let on = true
  return {
    isOn: () => on,
    awaitOn: latch.await,
    on: Effect.suspend(() => {
      on = true
      return latch.open
    }),
    off: Effect.suspend(() => {
      on = false
      return latch.close
    })
  }
}

/** One partition of one subscription: what a worker delivers. */
export interface Partition {
  readonly subscription: Subscription.Any
  readonly index: number
  /** The part of the log it reads. */
  readonly filter: EventStore.LogFilter
}

/** The partition `index` of a subscription. */
export const partition = (subscription: Subscription.Any, index: number): Partition => ({
  subscription,
  index,
  filter: {
    sources: subscription.sources.map((source) => ({
      aggregateType: source.aggregate.name,
      eventTypes: source.eventTypes
    })),
    partition: { count: subscription.partitions, index }
  }
})

/** A partition's name in logs and traces. */
export const nameOf = (p: Partition) => `${p.subscription.name}/${p.index}`
