/**
 * What one simulation run keeps: its seeded draws, its trace, the fault counts, and the checks
 * its deliveries record (order per aggregate, nothing delivered twice).
 */
import { Clock, Effect } from "effect"
import { PCGRandom } from "effect/Utils"
import type { Faults } from "../../Simulation.js"

/** A seeded source of numbers in [0, 1). */
export const generator = (seed: number): () => number => {
  const random = new PCGRandom(seed)
  return () => random.number()
}

export interface State {
  readonly seed: number
  readonly faults: Required<Faults>
  /** The longest run of injected failures of one delivery. */
  readonly maxAttempts: number
  readonly next: () => number
  readonly trace: Array<string>
  readonly counts: Record<keyof Faults, number>
  /**
   * Broken delivery rules seen by deliveries while it ran, by index. One counts only if the
   * delivery's transaction committed (a fenced-off worker's attempt is rolled back): each leaves a
   * marker in the inbox in its transaction (`violationsJournal`), looked up at the end.
   */
  readonly suspected: Array<string>
  /** Redeliveries a `duplicate` fault caused, by subscription and event: only those may happen. */
  readonly redeliveries: Map<string, number>
  /** Injected failures so far, by subscription and event. */
  readonly failures: Map<string, number>
  /** Events whose deliveries fail until a redrive lifts it (`exhaust`), by subscription and event. */
  readonly cursed: Set<string>
  step: number
}

export const make = (seed: number, faults: Required<Faults>, maxAttempts: number): State => ({
  seed,
  faults,
  maxAttempts,
  next: generator(seed),
  trace: [],
  counts: { crash: 0, handlerCrash: 0, duplicate: 0, failure: 0, leaseExpiry: 0, exhaust: 0 },
  suspected: [],
  redeliveries: new Map(),
  failures: new Map(),
  cursed: new Set(),
  step: 0
})

/** True with probability `p`. */
export const chance = (state: State, p: number) => p > 0 && state.next() < p

/** One of the items. */
export const pick = <A>(state: State, items: ReadonlyArray<A>): A => items[Math.floor(state.next() * items.length)]!

/** Add a line to the trace, with the step and the simulated time. */
export const log = (state: State, line: string) =>
  Effect.map(Clock.currentTimeMillis, (now) => {
    state.trace.push(`#${state.step} t=${now} ${line}`)
  })
