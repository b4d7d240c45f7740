/**
 * The seeds of the randomized runs: the chaos runs (`CHAOS_SEED`) and the deterministic
 * simulation (`SIM_SEED`). `npm test` runs fixed seeds, the same scenarios every time, so a red
 * run is a fault to fix, never bad luck; `npm run test:chaos` (`CHAOS=full`) explores with new
 * seeds. Setting the variable replays a seed in either. Each run prints the seed it used.
 */

/** `npm run test:chaos`: the full size, and new seeds. */
export const full = process.env["CHAOS"] === "full"

/**
 * The seed named by `variable` when it is set, else `fixed` (`npm test`), or a new one in a full
 * chaos run. Logged once per variable and process.
 */
export const seedOf = (variable: "CHAOS_SEED" | "SIM_SEED", fixed: number): number => {
  const given = process.env[variable]
  let seed: number
  if (given !== undefined && given !== "") {
    seed = Number(given)
    if (!Number.isSafeInteger(seed)) throw new Error(`${variable}=${given} is not an integer`)
  } else {
    seed = full ? Math.floor(Math.random() * 2 ** 31) : fixed
  }
  if (!logged.has(variable)) {
    logged.add(variable)
    const source = given !== undefined && given !== ""
      ? "from the environment"
      : full
      ? `a new seed: ${variable}=${seed} replays this run`
      : `the fixed seed of npm test; set ${variable} to run another`
    process.stdout.write(`${variable}=${seed} (${source})\n`)
  }
  return seed
}

const logged = new Set<string>()

/**
 * The fast-check option replaying one case of a seed's run: the path fast-check printed with the
 * seed when the property failed, from `variable`; none when it is not set.
 */
export const pathOf = (variable: "CHAOS_PATH"): { readonly path?: string } => {
  const path = process.env[variable]
  return path === undefined || path === "" ? {} : { path }
}
