/**
 * How the CLI prints: aligned tables and short durations for people, JSON for scripts.
 */
import { Console, type Effect } from "effect"

/** A column: its header and whether it holds numbers (aligned right). */
export interface Column {
  readonly header: string
  readonly numeric?: boolean
}

/** A table with a header line, columns padded to their widest cell. */
export const table = (columns: ReadonlyArray<Column>, rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = columns.map((column, i) => Math.max(column.header.length, ...rows.map((row) => (row[i] ?? "").length)))
  const line = (cells: ReadonlyArray<string>) =>
    cells
      .map((cell, i) => (columns[i]!.numeric ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd()
  return [line(columns.map((c) => c.header)), ...rows.map(line)].join("\n")
}

/** `key: value` lines, keys aligned. */
export const fields = (entries: ReadonlyArray<readonly [string, string]>): string => {
  const width = Math.max(...entries.map(([key]) => key.length))
  return entries.map(([key, value]) => `${`${key}:`.padEnd(width + 1)} ${value}`).join("\n")
}

/** A duration in milliseconds, shortly: `850ms`, `12s`, `3m 20s`, `5h 2m`, `2d 3h`. */
export const duration = (millis: number): string => {
  const ms = Math.max(0, Math.round(millis))
  if (ms < 1_000) return `${ms}ms`
  const s = Math.floor(ms / 1_000)
  if (s < 60) return `${s}s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m}m ${s % 60}s`
  const h = Math.floor(m / 60)
  if (h < 24) return `${h}h ${m % 60}m`
  return `${Math.floor(h / 24)}d ${h % 24}h`
}

/** A count with thousands separators. */
export const count = (n: number): string => n.toLocaleString("en-US")

/** An epoch-milliseconds time as ISO 8601. */
export const time = (epochMillis: number): string => new Date(epochMillis).toISOString()

/** Cut a text to its first line and at most `max` characters. */
export const truncate = (text: string, max: number): string => {
  const first = text.split("\n", 1)[0] ?? ""
  return first.length > max || first !== text ? `${first.slice(0, max - 1)}…` : first
}

/** Print a value as JSON (for `--json`). */
export const json = (value: unknown): Effect.Effect<void> => Console.log(JSON.stringify(value, null, 2))
