/**
 * Benchmark figures: a table on stdout and `bench/results/latest.json`
 * (`[{ name, value, unit, baseline, ratio }]`, merged by name with earlier runs).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

export interface Figure {
  readonly name: string
  readonly value: number
  readonly unit: string
  /**
   * The baseline measured in the same run (same unit): a raw loop, or for `.vs-effect-sql` figures
   * the same work written with `@effect/sql`; null when there is none.
   */
  readonly baseline: number | null
  /** value / baseline (for rates; for costs such as memory the ratio is reported as measured). */
  readonly ratio: number | null
  readonly target?: string
}

const resultsFile = join(dirname(fileURLToPath(import.meta.url)), "results", "latest.json")

export const figure = (
  name: string,
  value: number,
  unit: string,
  baseline: number | null,
  target?: string
): Figure => ({
  name,
  value: round(value),
  unit,
  baseline: baseline === null ? null : round(baseline),
  ratio: baseline === null || baseline === 0 ? null : Math.round((value / baseline) * 1000) / 1000,
  ...(target === undefined ? {} : { target })
})

/** `items` rotated left by `by`: the order of a round, so that no run always follows the same one. */
export const rotated = <A>(items: ReadonlyArray<A>, by: number): ReadonlyArray<A> =>
  items.map((_, i) => items[(i + by) % items.length]!)

const round = (n: number) => (Math.abs(n) >= 100 ? Math.round(n) : Math.round(n * 100) / 100)

export const printTable = (figures: ReadonlyArray<Figure>) => {
  const rows = [
    ["name", "value", "unit", "baseline", "ratio", "target"],
    ...figures.map((
      f
    ) => [
      f.name,
      String(f.value),
      f.unit,
      f.baseline === null ? "-" : String(f.baseline),
      f.ratio === null ? "-" : `${f.ratio}x`,
      f.target ?? ""
    ])
  ]
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  for (const [i, row] of rows.entries()) {
    console.log(
      row.map((cell, j) => (j === 0 || j === 2 || j === 5 ? cell.padEnd(widths[j]!) : cell.padStart(widths[j]!))).join(
        "  "
      )
    )
    if (i === 0) console.log(widths.map((w) => "-".repeat(w)).join("  "))
  }
}

export const save = (figures: ReadonlyArray<Figure>) => {
  const previous: Array<Figure> = existsSync(resultsFile) ? JSON.parse(readFileSync(resultsFile, "utf8")) : []
  const names = new Set(figures.map((f) => f.name))
  const merged = [...previous.filter((f) => !names.has(f.name)), ...figures].sort((a, b) =>
    a.name.localeCompare(b.name)
  )
  mkdirSync(dirname(resultsFile), { recursive: true })
  writeFileSync(resultsFile, JSON.stringify(merged, null, 2) + "\n")
}

/** Runs `fn` `iterations` times, several rounds, and returns the best rate (ops/s). */
export const rate = (iterations: number, fn: (i: number) => void, rounds = 5): number => {
  let best = 0
  for (let r = 0; r < rounds; r++) {
    const start = process.hrtime.bigint()
    for (let i = 0; i < iterations; i++) fn(i)
    const seconds = Number(process.hrtime.bigint() - start) / 1e9
    best = Math.max(best, iterations / seconds)
  }
  return best
}
