/**
 * `npm run bench [-- name...]`: runs the benchmarks (all, or those whose name starts with one of
 * the arguments), prints a table and merges the figures into bench/results/latest.json.
 */
import * as core from "./core.js"
import { type Figure, printTable, save } from "./report.js"

const suites: ReadonlyArray<readonly [string, () => Promise<ReadonlyArray<Figure>> | ReadonlyArray<Figure>]> = [
  ["core", core.run]
]

const filters = process.argv.slice(2)
const selected = suites.filter(([name]) => filters.length === 0 || filters.some((f) => name.startsWith(f) || f.startsWith(name)))
const figures: Array<Figure> = []
for (const [name, run] of selected) {
  console.error(`running ${name}...`)
  figures.push(...(await run()))
}
printTable(figures)
save(figures)
