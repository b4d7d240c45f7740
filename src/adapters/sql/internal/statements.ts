/**
 * The event store's statements (but the log's reads: `logQueries.ts`), in the dialect of its
 * client. Texts that depend on a count (events per append) are made once per count and kept.
 */
import * as Dialect from "./dialect.js"
import * as Rows from "./rows.js"

/** The columns an append writes, in the order of its bind parameters. */
const INSERTED_COLUMNS =
  "event_id, aggregate_type, aggregate_id, version, event_type, schema_version, payload, metadata, occurred_at, stream_hash"

/** Bind parameters per appended event (see `INSERTED_COLUMNS`). */
export const PARAMS_PER_EVENT = 10

export interface Statements {
  /** Insert `count` events; a version already taken inserts nothing for that event. */
  readonly insertEvents: (count: number) => string
  /** Remove the events at these `count` positions (undo a partial append). */
  readonly deleteEvents: (count: number) => string
  /**
   * PostgreSQL: insert `count` events and, `withState`, write the state row, in one statement: a
   * version already taken fails it as a whole.
   */
  readonly appendAtomically: (count: number, withState: boolean) => string
  readonly upsertState: string
  readonly selectState: string
  readonly selectStream: string
  readonly selectCursorBefore: string
  readonly selectIdempotency: string
  readonly insertIdempotency: string
}

/** One text per count, made on first use and kept. */
const cached = (make: (count: number) => string): (count: number) => string => {
  const made = new Map<number, string>()
  return (key) => {
    let value = made.get(key)
    if (value === undefined) {
      value = make(key)
      made.set(key, value)
    }
    return value
  }
}

export const make = (dialect: Dialect.Name): Statements => {
  const p = (n: number) => Dialect.param(dialect, n)
  const j = (n: number) => Dialect.jsonParam(dialect, n)

  /** The bind parameters of the `i`-th event (0-based) of an insert, as a row of VALUES. */
  const eventValues = (i: number) => {
    const b = i * PARAMS_PER_EVENT
    return `(${p(b + 1)}, ${p(b + 2)}, ${p(b + 3)}, ${p(b + 4)}, ${p(b + 5)}, ${p(b + 6)}, ${j(b + 7)}, ${j(b + 8)}, ${
      p(b + 9)
    }, ${p(b + 10)})`
  }
  const valuesOf = (count: number) => Array.from({ length: count }, (_, i) => eventValues(i)).join(", ")

  const insertEvents = cached((count) =>
    `INSERT INTO effect_ddd_events (${INSERTED_COLUMNS})
    VALUES ${valuesOf(count)}
    ON CONFLICT (aggregate_type, aggregate_id, version) DO NOTHING
    RETURNING position, version`
  )

  const deleteEvents = (count: number) =>
    `DELETE FROM effect_ddd_events WHERE position IN (${Array.from({ length: count }, (_, i) => p(i + 1)).join(", ")})`

  const atomically = (withState: boolean) => (count: number) => {
    const s = count * PARAMS_PER_EVENT
    const state = withState
      ? `, state AS (
        INSERT INTO effect_ddd_states (aggregate_type, aggregate_id, version, state)
        VALUES ($${s + 1}, $${s + 2}, $${s + 3}, $${s + 4}::jsonb)
        ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE SET version = excluded.version, state = excluded.state)`
      : ""
    return `WITH inserted AS (INSERT INTO effect_ddd_events (${INSERTED_COLUMNS})
        VALUES ${valuesOf(count)} RETURNING position, version)${state}
        SELECT position, version FROM inserted`
  }
  const appendWithState = cached(atomically(true))
  const appendEvents = cached(atomically(false))

  return {
    insertEvents,
    deleteEvents,
    appendAtomically: (count, withState) => (withState ? appendWithState(count) : appendEvents(count)),
    upsertState: `INSERT INTO effect_ddd_states (aggregate_type, aggregate_id, version, state)
    VALUES (${p(1)}, ${p(2)}, ${p(3)}, ${j(4)})
    ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE SET version = excluded.version, state = excluded.state`,
    selectState: `SELECT ${Rows.STATE_COLUMNS} FROM effect_ddd_states WHERE aggregate_type = ${
      p(1)
    } AND aggregate_id = ${p(2)}`,
    selectStream: `SELECT ${Rows.EVENT_COLUMNS} FROM effect_ddd_events
    WHERE aggregate_type = ${p(1)} AND aggregate_id = ${p(2)} AND version > ${p(3)} ORDER BY version`,
    selectCursorBefore: `SELECT commit_order, position FROM effect_ddd_events
    WHERE position >= ${p(1)} ORDER BY position LIMIT 1`,
    selectIdempotency: `SELECT ${Rows.IDEMPOTENCY_COLUMNS} FROM effect_ddd_idempotency WHERE key = ${p(1)}`,
    insertIdempotency: `INSERT INTO effect_ddd_idempotency (${Rows.IDEMPOTENCY_COLUMNS})
    VALUES (${p(1)}, ${p(2)}, ${p(3)}, ${p(4)}, ${j(5)}, ${p(6)})
    ON CONFLICT (key) DO NOTHING RETURNING key`
  }
}
