/**
 * How big a chaos run is: `npm run test:chaos` sets `CHAOS=full` (10,000 commands and 20 kills
 * per database, 10,000 fuzz cases); `npm test` runs the small size. `CHAOS_SEED` replays a run's
 * workload, kill plan and fuzz cases (each run prints its seed).
 */
export const full = process.env["CHAOS"] === "full"

export const size = full
  ? { commands: 10_000, kills: 20, fuzzCases: 10_000 }
  : { commands: 1_000, kills: 5, fuzzCases: 1_000 }

export const seed = process.env["CHAOS_SEED"] === undefined
  ? Math.floor(Math.random() * 2 ** 31)
  : Number(process.env["CHAOS_SEED"])

/** A test's time limit: generous for the full size. */
export const timeout = full ? 3_600_000 : 300_000
