/**
 * How big a chaos run is, and its seed. `npm test` runs the small size with a fixed seed, the same
 * workload, kill plan and fuzz cases every time; `npm run test:chaos` sets `CHAOS=full` (10,000
 * commands and 20 kills per database, 10,000 fuzz cases) and draws a new seed. `CHAOS_SEED`
 * replays a seed in either (each run prints its seed).
 */
import { full, seedOf } from "../support/seed.js"

export { full }

export const size = full
  ? { commands: 10_000, kills: 20, fuzzCases: 10_000 }
  : { commands: 1_000, kills: 5, fuzzCases: 1_000 }

/** The seed of `npm test`'s chaos runs. */
export const fixedSeed = 20_261_207

export const seed = seedOf("CHAOS_SEED", fixedSeed)

/**
 * A run's time limit. It only bounds a hang: the runs decide nothing by time (a wait for the
 * system to become quiet goes on while it makes progress), and a loaded machine is slow.
 */
export const timeout = full ? 3 * 3_600_000 : 30 * 60_000
