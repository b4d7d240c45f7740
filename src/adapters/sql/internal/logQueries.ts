/**
 * The reads of the event log, in the dialect of the store's client: a page after a cursor (the
 * relay's read), the log alone, and the backlog after a cursor. Each takes a filter (sources and
 * event types, a partition of the streams); the texts of a filter are made on its first read and
 * kept. On PostgreSQL the log is read in commit order and below the safe horizon
 * (`Dialect.safeHorizon`); on SQLite positions commit in order.
 */
import type { LogCursor, LogFilter } from "../../../ports/EventStore.js"
import * as Dialect from "./dialect.js"
import * as Rows from "./rows.js"

/** A statement and its bind parameters. */
export interface Statement {
  readonly text: string
  readonly params: ReadonlyArray<unknown>
}

export interface LogQueries {
  /** At most `limit` events after `after`, in the log's order. */
  readonly log: (after: LogCursor, limit: number, filter: LogFilter | undefined) => Statement
  /**
   * `log` joined to the last event the read can see (below the safe horizon on PostgreSQL), in
   * one statement: one snapshot for both. At least one row on PostgreSQL (which also tells whether
   * events wait above the horizon), and whenever the log has an event on SQLite.
   */
  readonly page: (after: LogCursor, limit: number, filter: LogFilter | undefined) => Statement
  /**
   * How many events there are after `after`, and the oldest one's time. No safe horizon: an event
   * committed above it is not readable yet, but it is behind all the same.
   */
  readonly backlog: (after: LogCursor, filter: LogFilter | undefined) => Statement
}

/** The conditions of a filter, as ` AND ...`, with bind parameters numbered after `offset`. */
const filterConditions = (dialect: Dialect.Name, filter: LogFilter | undefined, offset: number) => {
  // SQLite: a unary `+` keeps the planner off the stream index (aggregate_type, aggregate_id,
  // version): through it, every read sorted all the remaining events of the type (quadratic)
  const noIndex = dialect === "sqlite" ? "+" : ""
  const params: Array<unknown> = []
  const next = () => Dialect.param(dialect, params.length + offset)
  const conditions: Array<string> = []
  if (filter?.sources !== undefined) {
    const sources = filter.sources.map((source) => {
      params.push(source.aggregateType)
      const type = `${noIndex}aggregate_type = ${next()}`
      if (source.eventTypes.length === 0) return `(${type})`
      const types = source.eventTypes.map((eventType) => {
        params.push(eventType)
        return next()
      })
      return `(${type} AND ${noIndex}event_type IN (${types.join(", ")}))`
    })
    conditions.push(sources.length === 0 ? "1 = 0" : `(${sources.join(" OR ")})`)
  }
  // a single partition is the whole log: no condition
  if (filter?.partition !== undefined && filter.partition.count > 1) {
    params.push(filter.partition.count)
    const count = next()
    params.push(filter.partition.index)
    // PostgreSQL has no statistics on the expression and guesses 0.5% of the rows match, so it
    // prefers a full scan and a sort to the log index; a boolean expression is guessed at 50%
    conditions.push(
      dialect === "pg"
        ? `coalesce(stream_hash % ${count} = ${next()}, false)`
        : `stream_hash % ${count} = ${next()}`
    )
  }
  return { where: conditions.map((c) => ` AND ${c}`).join(""), params }
}

/** The log's text for a filter (bind parameters: commit order, position, limit, then the filter's). */
const logText = (dialect: Dialect.Name, where: string) =>
  dialect === "pg"
    ? `SELECT commit_order, ${Rows.EVENT_COLUMNS} FROM effect_ddd_events
          WHERE (commit_order, position) > ($1, $2) AND ${Dialect.safeHorizon(dialect)}${where}
          ORDER BY commit_order, position LIMIT $3`
    : `SELECT commit_order, ${Rows.EVENT_COLUMNS} FROM effect_ddd_events
          WHERE ? = 0 AND position > ?${where} ORDER BY position LIMIT ?`

/** The page's text around the log's text of a filter (same bind parameters). */
const pageText = (dialect: Dialect.Name, log: string) =>
  dialect === "pg"
    ? `SELECT seen.commit_order AS seen_commit_order, seen.position AS seen_position,
            EXISTS (SELECT 1 FROM effect_ddd_events WHERE NOT (${Dialect.safeHorizon(dialect)})) AS held_back, page.*
          FROM (SELECT 1) one
          LEFT JOIN (SELECT commit_order, position FROM effect_ddd_events WHERE ${Dialect.safeHorizon(dialect)}
            ORDER BY commit_order DESC, position DESC LIMIT 1) seen ON true
          LEFT JOIN (${log}) page ON true
          ORDER BY page.commit_order, page.position`
    : `SELECT 0 AS seen_commit_order, seen.position AS seen_position, page.*
          FROM (SELECT max(position) AS position FROM effect_ddd_events) seen
          LEFT JOIN (${log}) page ON 1 = 1
          ORDER BY page.position`

const backlogText = (dialect: Dialect.Name, where: string) =>
  dialect === "pg"
    ? `SELECT count(*) AS count, min(occurred_at) AS oldest FROM effect_ddd_events
        WHERE (commit_order, position) > ($1, $2)${where}`
    : `SELECT count(*) AS count, min(occurred_at) AS oldest FROM effect_ddd_events
        WHERE ? = 0 AND position > ?${where}`

export const make = (dialect: Dialect.Name): LogQueries => {
  const logs = new Map<string, Statement>()
  const pages = new Map<string, Statement>()

  /** A filter's text and parameters (after commit order, position and limit), made once. */
  const textOf = (cache: Map<string, Statement>, filter: LogFilter | undefined, wrap: (log: string) => string) => {
    const key = JSON.stringify(filter ?? {})
    let query = cache.get(key)
    if (query === undefined) {
      const { params, where } = filterConditions(dialect, filter, 3) // $1..$3: commit order, position, limit
      query = { text: wrap(logText(dialect, where)), params }
      cache.set(key, query)
    }
    return query
  }

  /** The full parameters: SQLite binds positionally in text order, the LIMIT after the filter's. */
  const withCursor = (query: Statement, after: LogCursor, limit: number): Statement => ({
    text: query.text,
    params: dialect === "pg"
      ? [after.commitOrder, after.position, limit, ...query.params]
      : [after.commitOrder, after.position, ...query.params, limit]
  })

  return {
    log: (after, limit, filter) => withCursor(textOf(logs, filter, (log) => log), after, limit),
    page: (after, limit, filter) => withCursor(textOf(pages, filter, (log) => pageText(dialect, log)), after, limit),
    backlog: (after, filter) => {
      const { params, where } = filterConditions(dialect, filter, 2)
      return { text: backlogText(dialect, where), params: [after.commitOrder, after.position, ...params] }
    }
  }
}
