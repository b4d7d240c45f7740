/**
 * The statements of pruning, in the store's dialect. An event may go when it is at or below its
 * aggregate type's horizon (the slowest checkpoint of the subscriptions reading it), older than
 * the cutoff, and its aggregate has no dead letter (a redrive reads its events again); with
 * `beforeSnapshot`, only at or below the snapshot's version. Deletes take a bounded batch in the
 * log's order (short transactions); what they removed comes back for the pruned marks.
 */
import type * as Dialect from "./dialect.js"

const ids = (dialect: Dialect.Name, n: string) =>
  dialect === "pg" ? `SELECT jsonb_array_elements_text(${n}::jsonb)` : `SELECT value FROM json_each(${n})`

export const make = (dialect: Dialect.Name) => {
  const pg = dialect === "pg"
  const p = (n: number) => (pg ? `$${n}` : "?")
  // SQLite: `+` keeps the planner on the primary key (the log's order) rather than the stream index
  const type = pg ? "e.aggregate_type" : "+e.aggregate_type"
  const logOrder = pg ? "e.commit_order, e.position" : "e.position"
  /** Parameters: type, horizon (commit order, position), cutoff. */
  const removable = (snapshot: boolean) =>
    `${type} = ${p(1)} AND e.commit_order <= ${p(2)} AND ${
      pg ? `(e.commit_order, e.position) <= ($2, $3)` : "e.position <= ?"
    } AND e.occurred_at < ${p(4)}
      AND NOT EXISTS (SELECT 1 FROM effect_ddd_dead_letters d
        WHERE d.aggregate_type = e.aggregate_type AND d.aggregate_id = e.aggregate_id)${
      snapshot
        ? ` AND e.version <= (SELECT s.version FROM effect_ddd_states s
        WHERE s.aggregate_type = e.aggregate_type AND s.aggregate_id = e.aggregate_id)`
        : ""
    }`
  const status = pg ? "s.state->>'status'" : "json_extract(s.state, '$.status')"
  /** Parameters: process manager, cutoff, horizon (commit order, position). */
  const finished = `s.aggregate_type = ${p(1)} AND ${status} IN ('completed', 'compensated')
      AND NOT EXISTS (SELECT 1 FROM effect_ddd_events e
        WHERE e.aggregate_type = s.aggregate_type AND e.aggregate_id = s.aggregate_id
          AND (e.occurred_at >= ${p(2)} OR ${
    pg ? "(e.commit_order, e.position) > ($3, $4)" : "e.commit_order > ? OR e.position > ?"
  }))
      AND NOT EXISTS (SELECT 1 FROM effect_ddd_dead_letters d
        WHERE d.aggregate_type = s.aggregate_type AND d.aggregate_id = s.aggregate_id)`
  return {
    /** Parameters of `removable`, then the limit. */
    deleteEvents: (snapshot: boolean) =>
      `DELETE FROM effect_ddd_events WHERE position IN (
        SELECT e.position FROM effect_ddd_events e WHERE ${removable(snapshot)}
        ORDER BY ${logOrder} LIMIT ${p(5)})
      RETURNING commit_order, position`,
    countEvents: (snapshot: boolean) => `SELECT count(*) AS n FROM effect_ddd_events e WHERE ${removable(snapshot)}`,
    /** Parameters: type, cutoff, a subscription's checkpoint (commit order, position). */
    heldBack: (snapshot: boolean) =>
      `SELECT count(*) AS n, min(e.occurred_at) AS oldest FROM effect_ddd_events e
        WHERE ${type} = ${p(1)} AND e.occurred_at < ${p(2)} AND ${
        pg ? "(e.commit_order, e.position) > ($3, $4)" : "e.commit_order >= ? AND e.position > ?"
      }${
        snapshot
          ? ` AND e.version <= (SELECT s.version FROM effect_ddd_states s
        WHERE s.aggregate_type = e.aggregate_type AND s.aggregate_id = e.aggregate_id)`
          : ""
      }`,
    /** Parameters of `finished`, then the limit. */
    deleteInstances: `DELETE FROM effect_ddd_states WHERE (aggregate_type, aggregate_id) IN (
        SELECT s.aggregate_type, s.aggregate_id FROM effect_ddd_states s WHERE ${finished} LIMIT ${p(5)})
      RETURNING aggregate_id`,
    countInstances: `SELECT count(*) AS n FROM effect_ddd_states s WHERE ${finished}`,
    /** Parameters: type, JSON array of ids. */
    deleteInstanceEvents: `DELETE FROM effect_ddd_events
      WHERE aggregate_type = ${p(1)} AND aggregate_id IN (${ids(dialect, p(2))}) RETURNING commit_order, position`,
    deleteInstanceDeadlines: `DELETE FROM effect_ddd_deadlines
      WHERE process_manager = ${p(1)} AND instance_id IN (${ids(dialect, p(2))})`,
    /** Parameters: cutoff, limit. */
    deleteIdempotency: `DELETE FROM effect_ddd_idempotency WHERE key IN (
        SELECT key FROM effect_ddd_idempotency WHERE created_at < ${p(1)} LIMIT ${p(2)}) RETURNING key`,
    countIdempotency: `SELECT count(*) AS n FROM effect_ddd_idempotency WHERE created_at < ${p(1)}`,
    deleteInbox: `DELETE FROM effect_ddd_inbox WHERE (consumer, event_id) IN (
        SELECT consumer, event_id FROM effect_ddd_inbox WHERE processed_at < ${p(1)} LIMIT ${p(2)})
      RETURNING event_id`,
    countInbox: `SELECT count(*) AS n FROM effect_ddd_inbox WHERE processed_at < ${p(1)}`,
    /** Parameters: type, commit order, position, now. Only ever moves forward. */
    markPruned: `INSERT INTO effect_ddd_pruned (aggregate_type, commit_order, position, pruned_at)
      VALUES (${p(1)}, ${p(2)}, ${p(3)}, ${p(4)})
      ON CONFLICT (aggregate_type) DO UPDATE SET
        commit_order = excluded.commit_order, position = excluded.position, pruned_at = excluded.pruned_at
      WHERE (excluded.commit_order, excluded.position) > (effect_ddd_pruned.commit_order, effect_ddd_pruned.position)`,
    selectPruned: `SELECT aggregate_type, commit_order, position FROM effect_ddd_pruned`,
    selectCheckpoints: `SELECT subscription, partition, commit_order, position FROM effect_ddd_checkpoints`,
    /** The log's first event: its time is (nearly) the oldest kept, without a scan. */
    selectOldest: `SELECT occurred_at FROM effect_ddd_events e ORDER BY ${logOrder} LIMIT 1`,
    /** Parameters: policy JSON, now. */
    recordPolicy: `INSERT INTO effect_ddd_retention (name, policy, recorded_at)
      VALUES ('policy', ${pg ? "$1::jsonb" : "?"}, ${p(2)})
      ON CONFLICT (name) DO UPDATE SET policy = excluded.policy, recorded_at = excluded.recorded_at`,
    selectPolicy: `SELECT policy FROM effect_ddd_retention WHERE name = 'policy'`
  }
}

export type PruningStatements = ReturnType<typeof make>
