/**
 * The event store on SQL, over `@effect/sql`'s generic `SqlClient` (the application chooses the
 * driver: `@effect/sql-sqlite-node` embedded, `@effect/sql-pg` for many processes). One
 * `effect_ddd_events` table is both the event store and the outbox.
 *
 * `examples/sql-layers.ts`, SQLite by default and PostgreSQL when `DATABASE_URL` is set:
 * {@includeCode ../../../examples/sql-layers.ts}
 *
 * @since 0.1.0
 * @module
 */
import { SqlClient } from "@effect/sql"
import type { Connection } from "@effect/sql/SqlConnection"
import { SqlError } from "@effect/sql/SqlError"
import { Cause, type Context, Effect, Exit, FiberRef, Layer, Option } from "effect"
import type * as DomainEvent from "../../core/DomainEvent.js"
import type { Checkpoints } from "../../ports/Checkpoints.js"
import type { DeadLetters } from "../../ports/DeadLetters.js"
import type { Deadlines } from "../../ports/Deadlines.js"
import {
  type AppendRequest,
  ConcurrencyConflict,
  cursorOf,
  EventStore,
  EventStoreError,
  isAfter,
  type LogFilter,
  type LoggedEvent,
  type LogPage,
  type Service,
  streamHash
} from "../../ports/EventStore.js"
import type { Inbox } from "../../ports/Inbox.js"
import type { SubscriptionRegistry } from "../../ports/SubscriptionRegistry.js"
import * as Connections from "./internal/connections.js"
import * as DeliveryStores from "./internal/deliveryStores.js"
import * as Dialect from "./internal/dialect.js"
import * as GroupCommit from "./internal/groupCommit.js"
import * as PinnedConnection from "./internal/pinnedConnection.js"
import * as Migrations from "./migrations.js"
import * as PreparedStatements from "./PreparedStatements.js"

/** Marks a failure of the caller's effect, so it is not mistaken for one of the transaction's. */
class CallerFailure {
  constructor(readonly error: unknown) {}
}

/**
 * Turn a driver error into the port's error, with a reason.
 *
 * @since 0.1.0
 * @category errors
 */
export const toStoreError = (error: SqlError, detail?: string): EventStoreError =>
  new EventStoreError({
    reason: Dialect.isUnavailable(error) ? "Unavailable" : Dialect.isConstraint(error) ? "Constraint" : "Unknown",
    detail: detail ?? String((error.cause as Error | undefined)?.message ?? error.message),
    cause: error
  })

const EVENT_COLUMNS =
  "position, event_id, aggregate_type, aggregate_id, version, event_type, schema_version, payload, metadata, occurred_at"

type EventRow = {
  readonly position: number | string
  readonly commit_order?: number | string
  readonly event_id: string
  readonly aggregate_type: string
  readonly aggregate_id: string
  readonly version: number
  readonly event_type: string
  readonly schema_version: number
  readonly payload: unknown
  readonly metadata: unknown
  readonly occurred_at: number | string
}

/**
 * A log row as a `LoggedEvent`: made by a constructor, not an object literal. V8 moves an object
 * literal's allocation site to the old generation once it sees most of its objects survive a
 * collection, which a batch being delivered does; every event of a drain was then born old and
 * died there, one full collection per ~100 MB.
 */
class LoggedRow implements LoggedEvent {
  readonly position: number
  readonly eventId: string
  readonly aggregateType: string
  readonly aggregateId: string
  readonly version: number
  readonly eventType: string
  readonly schemaVersion: number
  readonly payload: unknown
  readonly metadata: DomainEvent.Metadata
  readonly occurredAt: number
  readonly commitOrder: number
  constructor(row: EventRow) {
    this.position = Dialect.readNumber(row.position)
    this.eventId = row.event_id
    this.aggregateType = row.aggregate_type
    this.aggregateId = row.aggregate_id
    this.version = Dialect.readNumber(row.version)
    this.eventType = row.event_type
    this.schemaVersion = Dialect.readNumber(row.schema_version)
    this.payload = Dialect.readJson(row.payload)
    this.metadata = Dialect.readJson(row.metadata) as DomainEvent.Metadata
    this.occurredAt = Dialect.readNumber(row.occurred_at)
    this.commitOrder = Dialect.readNumber(row.commit_order)
  }
}

const toLogged = (row: EventRow): LoggedEvent => new LoggedRow(row)

/** A row of the page query: the last event the read could see, and an event of the page (or nulls). */
type PageRow = EventRow & {
  readonly seen_commit_order: number | string
  readonly seen_position: number | string | null
  readonly held_back?: boolean
}

const toStored = (row: EventRow): DomainEvent.Stored => ({
  position: Dialect.readNumber(row.position),
  eventId: row.event_id,
  aggregateType: row.aggregate_type,
  aggregateId: row.aggregate_id,
  version: Dialect.readNumber(row.version),
  eventType: row.event_type,
  schemaVersion: Dialect.readNumber(row.schema_version),
  payload: Dialect.readJson(row.payload),
  metadata: Dialect.readJson(row.metadata) as DomainEvent.Metadata,
  occurredAt: Dialect.readNumber(row.occurred_at)
})

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * Commit concurrent top-level transactions together, each in its own savepoint (default on).
   * `maxBatch`: most transactions per commit (default 64); `concurrency`: batches in flight at
   * once (default 1 on SQLite, which has one connection, and 4 on PostgreSQL).
   */
  readonly groupCommit?: false | { readonly maxBatch?: number; readonly concurrency?: number }
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<Service, never, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const client = yield* SqlClient.SqlClient
    const sql = client.withoutTransforms()
    const dialect = Dialect.of(sql)
    const onConnection = PinnedConnection.onConnection(client, dialect)
    const prepare = yield* PreparedStatements.of(client)
    const p = (n: number) => Dialect.param(dialect, n)
    const j = (n: number) => Dialect.jsonParam(dialect, n)

    const insertEventsSql = new Map<number, string>()
    const insertEvents = (count: number) => {
      let text = insertEventsSql.get(count)
      if (text === undefined) {
        const rows = Array.from({ length: count }, (_, i) => {
          const b = i * 10
          return `(${p(b + 1)}, ${p(b + 2)}, ${p(b + 3)}, ${p(b + 4)}, ${p(b + 5)}, ${p(b + 6)}, ${j(b + 7)}, ${
            j(b + 8)
          }, ${p(b + 9)}, ${p(b + 10)})`
        })
        text = `INSERT INTO effect_ddd_events
        (event_id, aggregate_type, aggregate_id, version, event_type, schema_version, payload, metadata, occurred_at, stream_hash)
        VALUES ${rows.join(", ")}
        ON CONFLICT (aggregate_type, aggregate_id, version) DO NOTHING
        RETURNING position, version`
        insertEventsSql.set(count, text)
      }
      return text
    }
    const upsertState = `INSERT INTO effect_ddd_states (aggregate_type, aggregate_id, version, state)
    VALUES (${p(1)}, ${p(2)}, ${p(3)}, ${j(4)})
    ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE SET version = excluded.version, state = excluded.state`
    const selectState = `SELECT version, state FROM effect_ddd_states WHERE aggregate_type = ${
      p(1)
    } AND aggregate_id = ${p(2)}`
    const selectStream = `SELECT ${EVENT_COLUMNS} FROM effect_ddd_events
    WHERE aggregate_type = ${p(1)} AND aggregate_id = ${p(2)} AND version > ${p(3)} ORDER BY version`
    const deleteEvents = (count: number) =>
      `DELETE FROM effect_ddd_events WHERE position IN (${
        Array.from({ length: count }, (_, i) => p(i + 1)).join(", ")
      })`
    /** The conditions of a filter, as ` AND ...`, with bind parameters numbered after `offset`. */
    const filterConditions = (filter: LogFilter | undefined, offset: number) => {
      // SQLite: a unary `+` keeps the planner off the stream index (aggregate_type, aggregate_id,
      // version): through it, every read sorted all the remaining events of the type (quadratic)
      const noIndex = dialect === "sqlite" ? "+" : ""
      const params: Array<unknown> = []
      const next = () => p(params.length + offset)
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
    /** The log query for a filter; its parameters after (commit order, position, limit). */
    const logQueries = new Map<string, { readonly text: string; readonly params: ReadonlyArray<unknown> }>()
    const pageQueries = new Map<string, { readonly text: string; readonly params: ReadonlyArray<unknown> }>()
    const logQuery = (filter: LogFilter | undefined) => {
      const key = JSON.stringify(filter ?? {})
      let query = logQueries.get(key)
      if (query === undefined) {
        const { params, where } = filterConditions(filter, 3) // $1..$3: commit order, position, limit
        const text = dialect === "pg"
          ? `SELECT commit_order, ${EVENT_COLUMNS} FROM effect_ddd_events
          WHERE (commit_order, position) > ($1, $2) AND ${Dialect.safeHorizon(dialect)}${where}
          ORDER BY commit_order, position LIMIT $3`
          : `SELECT commit_order, ${EVENT_COLUMNS} FROM effect_ddd_events
          WHERE ? = 0 AND position > ?${where} ORDER BY position LIMIT ?`
        query = { text, params }
        logQueries.set(key, query)
      }
      return query
    }
    /**
     * `logQuery` joined to the last event the read can see (below the safe horizon on PostgreSQL),
     * in one statement: one snapshot for both. At least one row on PostgreSQL (which also tells whether
     * events wait above the horizon), and whenever the log has an event on SQLite.
     */
    const pageQuery = (filter: LogFilter | undefined) => {
      const key = JSON.stringify(filter ?? {})
      let query = pageQueries.get(key)
      if (query === undefined) {
        const log = logQuery(filter)
        const text = dialect === "pg"
          ? `SELECT seen.commit_order AS seen_commit_order, seen.position AS seen_position,
            EXISTS (SELECT 1 FROM effect_ddd_events WHERE NOT (${Dialect.safeHorizon(dialect)})) AS held_back, page.*
          FROM (SELECT 1) one
          LEFT JOIN (SELECT commit_order, position FROM effect_ddd_events WHERE ${Dialect.safeHorizon(dialect)}
            ORDER BY commit_order DESC, position DESC LIMIT 1) seen ON true
          LEFT JOIN (${log.text}) page ON true
          ORDER BY page.commit_order, page.position`
          : `SELECT 0 AS seen_commit_order, seen.position AS seen_position, page.*
          FROM (SELECT max(position) AS position FROM effect_ddd_events) seen
          LEFT JOIN (${log.text}) page ON 1 = 1
          ORDER BY page.position`
        query = { text, params: log.params }
        pageQueries.set(key, query)
      }
      return query
    }
    /**
     * The backlog query for a filter; its parameters after (commit order, position). No safe
     * horizon: an event committed above it is not readable yet, but it is behind all the same.
     */
    const backlogQuery = (filter: LogFilter | undefined) => {
      const { params, where } = filterConditions(filter, 2)
      const text = dialect === "pg"
        ? `SELECT count(*) AS count, min(occurred_at) AS oldest FROM effect_ddd_events
        WHERE (commit_order, position) > ($1, $2)${where}`
        : `SELECT count(*) AS count, min(occurred_at) AS oldest FROM effect_ddd_events
        WHERE ? = 0 AND position > ?${where}`
      return { text, params }
    }
    const selectCursorBefore = `SELECT commit_order, position FROM effect_ddd_events
    WHERE position >= ${p(1)} ORDER BY position LIMIT 1`
    const selectIdempotency = `SELECT key, fingerprint, aggregate_type, aggregate_id, result, created_at
    FROM effect_ddd_idempotency WHERE key = ${p(1)}`
    const insertIdempotency = `INSERT INTO effect_ddd_idempotency
    (key, fingerprint, aggregate_type, aggregate_id, result, created_at)
    VALUES (${p(1)}, ${p(2)}, ${p(3)}, ${p(4)}, ${j(5)}, ${p(6)})
    ON CONFLICT (key) DO NOTHING RETURNING key`

    // Inside a transaction, statements run straight on its connection (a fifth of the cost of a
    // statement through the client); outside, on a connection reserved for them.
    const query = <A extends object>(text: string, params: ReadonlyArray<unknown>, what: string) =>
      Connections.mapFailure(
        Connections.execute<A>(onConnection, prepare(text), params),
        (error) =>
          toStoreError(error, `${what}: ${String((error.cause as Error | undefined)?.message ?? error.message)}`)
      )

    const toTransactionFailure = <A, E, R>(
      effect: Effect.Effect<A, SqlError | CallerFailure, R>
    ): Effect.Effect<A, E | EventStoreError, R> =>
      // one handler for both (a caller's or the database's failure, a COMMIT that died): each frame
      // on this path is paid by every transaction
      Effect.catchAllCause(effect, (cause): Effect.Effect<never, E | EventStoreError> => {
        const failure = Cause.failureOption(cause)
        if (Option.isSome(failure)) {
          const error = failure.value
          return Effect.fail(error instanceof CallerFailure ? error.error as E : toStoreError(error))
        }
        const defect = Cause.dieOption(cause)
        return Option.isSome(defect) && defect.value instanceof SqlError
          ? Effect.fail(toStoreError(defect.value, "commit failed"))
          : Effect.failCause(cause as Cause.Cause<never>)
      })

    // Generators on the transaction path are made once (Effect.fnUntraced), never per call: a generator
    // object made from a fresh `function*` closure gets a hidden class of its own in the old
    // generation, which keeps the closure, and all it reaches, alive until the next full collection.

    /** The body of `topLevel`: BEGIN, the caller's effect on the connection, COMMIT or ROLLBACK. */
    const transactionOn = Effect.fnUntraced(function*(
      conn: Connection,
      self: Effect.Effect<unknown, unknown>,
      restore: Connections.Restore,
      services: Context.Context<never> | undefined
    ) {
      const context = yield* FiberRef.get(FiberRef.currentContext)
      yield* conn.execute(prepare("BEGIN"), [], undefined)
      const exit = yield* Connections.withService(
        services ?? context,
        SqlClient.TransactionConnection,
        [conn, 0],
        restore(Connections.mapFailure(self, (error) => new CallerFailure(error))),
        context
      )
      if (Exit.isSuccess(exit)) {
        const committed = yield* conn.executeRaw(prepare("COMMIT"), [])
        // PostgreSQL answers COMMIT in an aborted transaction (a statement failed and was caught)
        // with ROLLBACK, not an error: report it, never as a success
        if ((committed as { readonly command?: unknown } | undefined)?.command === "ROLLBACK") {
          return yield* Effect.fail(
            new CallerFailure(
              new EventStoreError({ reason: "Unknown", detail: "the database rolled the transaction back at commit" })
            )
          )
        }
        return exit.value
      }
      yield* Effect.ignore(conn.execute(prepare("ROLLBACK"), [], undefined))
      return yield* exit
    })

    /**
     * A top-level transaction on a reserved connection, with BEGIN and COMMIT as prepared
     * statements. The connection is put where `@effect/sql` looks for the ambient transaction, so
     * any `sql` statement of the caller joins it and a nested `withTransaction` is a savepoint.
     * `self` runs with `services` when given (group commit: those of the fiber that queued it).
     */
    const topLevel = <A, E, R>(
      self: Effect.Effect<A, E, R>,
      services?: Context.Context<never>
    ): Effect.Effect<A, E | EventStoreError, R> =>
      toTransactionFailure<A, E, R>(
        onConnection((conn, restore) =>
          transactionOn(conn, self as Effect.Effect<unknown, unknown>, restore, services)
        ) as Effect.Effect<
          A,
          SqlError | CallerFailure,
          R
        >
      )

    /** The body of `savepoint`. */
    const inSavepoint = Effect.fnUntraced(function*(
      self: Effect.Effect<unknown, unknown>,
      restore: Connections.Restore,
      conn: Connection,
      depth: number,
      services: Context.Context<never> | undefined
    ) {
      const context = yield* FiberRef.get(FiberRef.currentContext)
      yield* conn.execute(prepare("SAVEPOINT effect_ddd_batch"), [], undefined)
      const exit = yield* Connections.withService(
        services ?? context,
        SqlClient.TransactionConnection,
        [conn, depth + 1],
        restore(Connections.mapFailure(self, (error) => new CallerFailure(error))),
        context
      )
      if (Exit.isFailure(exit)) yield* conn.execute(prepare("ROLLBACK TO SAVEPOINT effect_ddd_batch"), [], undefined)
      yield* conn.execute(prepare("RELEASE SAVEPOINT effect_ddd_batch"), [], undefined)
      return yield* exit
    })

    /**
     * A savepoint of the ambient transaction (group commit runs it inside `topLevel`), `self` with
     * `services` when given.
     */
    const savepoint = <A, E, R>(
      self: Effect.Effect<A, E, R>,
      services?: Context.Context<never>
    ): Effect.Effect<A, E | EventStoreError, R> =>
      Connections.withAmbientTransaction((tx) =>
        toTransactionFailure<A, E, R>(
          Effect.uninterruptibleMask((restore) =>
            inSavepoint(self as Effect.Effect<unknown, unknown>, restore, tx![0], tx![1], services) as Effect.Effect<
              A,
              SqlError | CallerFailure,
              R
            >
          )
        )
      )

    const grouped = options.groupCommit === false ?
      (self: Effect.Effect<any, any, any>) => topLevel(self) :
      GroupCommit.make<EventStoreError>(
        { transaction: topLevel, savepoint },
        {
          maxBatch: options.groupCommit?.maxBatch ?? 64,
          concurrency: options.groupCommit?.concurrency ?? (dialect === "pg" ? 4 : 1),
          yieldFirst: dialect === "sqlite"
        }
      )

    const withTransaction: Service["withTransaction"] = (self) =>
      Connections.withAmbientTransaction((tx) =>
        tx !== undefined
          ? toTransactionFailure<any, any, any>(
            sql.withTransaction(Effect.mapError(self, (error) => new CallerFailure(error)))
          )
          : grouped(self)
      )

    const reads = {
      readStream: (aggregateType, aggregateId, afterVersion) =>
        Effect.map(
          query<EventRow>(selectStream, [aggregateType, aggregateId, afterVersion], "read stream"),
          (rows) => rows.map(toStored)
        ),
      readState: (aggregateType, aggregateId) =>
        Effect.flatMap(
          query<{ version: number; state: unknown }>(selectState, [aggregateType, aggregateId], "read state"),
          (rows) =>
            Effect.succeed(
              rows.length === 0
                ? Option.none()
                : Option.some({
                  version: Dialect.readNumber(rows[0]!.version),
                  state: Dialect.readJson(rows[0]!.state)
                })
            )
        )
    } satisfies Partial<Service>

    /** Inside a transaction: the events, then the state row; a version clash undoes our part. */
    const appendInTransaction = Effect.fnUntraced(function*(request: AppendRequest) {
      const params = appendParams(request)
      const inserted = request.events.length === 0
        ? []
        : yield* query<{ position: number | string; version: number }>(
          insertEvents(request.events.length),
          params,
          "append events"
        )
      if (inserted.length < request.events.length) {
        // another writer holds one of these versions: undo our part and report the conflict
        if (inserted.length > 0) {
          yield* query(deleteEvents(inserted.length), inserted.map((row) => row.position), "undo partial append")
        }
        return yield* new ConcurrencyConflict({
          aggregateType: request.aggregateType,
          aggregateId: request.aggregateId,
          expectedVersion: request.expectedVersion
        })
      }
      if (request.state !== undefined) {
        yield* query(
          upsertState,
          [request.aggregateType, request.aggregateId, request.state.version, JSON.stringify(request.state.state)],
          "write state"
        )
      }
      return withPositions(request, inserted)
    })

    const appendParams = (request: AppendRequest): Array<unknown> => {
      const params: Array<unknown> = []
      const hash = streamHash(request.aggregateId)
      for (const event of request.events) {
        params.push(
          event.eventId,
          event.aggregateType,
          event.aggregateId,
          event.version,
          event.eventType,
          event.schemaVersion,
          JSON.stringify(event.payload),
          JSON.stringify(event.metadata),
          event.occurredAt,
          hash
        )
      }
      return params
    }

    const withPositions = (
      request: AppendRequest,
      inserted: ReadonlyArray<{ readonly position: number | string; readonly version: number }>
    ): ReadonlyArray<DomainEvent.Stored> => {
      const positions = new Map(
        inserted.map((row) => [Dialect.readNumber(row.version), Dialect.readNumber(row.position)])
      )
      return request.events.map((event): DomainEvent.Stored => ({ ...event, position: positions.get(event.version)! }))
    }

    /**
     * PostgreSQL, outside a transaction: events and state row in one statement (a data-modifying
     * CTE), atomic on its own; a version clash fails the whole statement, so nothing is written.
     */
    const appendAtomicallySql = new Map<string, string>()
    const appendAtomically = (request: AppendRequest) => {
      const count = request.events.length
      const key = `${count}:${request.state !== undefined}`
      let text = appendAtomicallySql.get(key)
      if (text === undefined) {
        const rows = Array.from({ length: count }, (_, i) => {
          const b = i * 10
          return `($${b + 1}, $${b + 2}, $${b + 3}, $${b + 4}, $${b + 5}, $${b + 6}, $${b + 7}::jsonb, $${
            b + 8
          }::jsonb, $${b + 9}, $${b + 10})`
        })
        const s = count * 10
        const state = request.state === undefined ? "" : `, state AS (
        INSERT INTO effect_ddd_states (aggregate_type, aggregate_id, version, state)
        VALUES ($${s + 1}, $${s + 2}, $${s + 3}, $${s + 4}::jsonb)
        ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE SET version = excluded.version, state = excluded.state)`
        text = `WITH inserted AS (INSERT INTO effect_ddd_events
        (event_id, aggregate_type, aggregate_id, version, event_type, schema_version, payload, metadata, occurred_at, stream_hash)
        VALUES ${rows.join(", ")} RETURNING position, version)${state}
        SELECT position, version FROM inserted`
        appendAtomicallySql.set(key, text)
      }
      const params = appendParams(request)
      if (request.state !== undefined) {
        params.push(
          request.aggregateType,
          request.aggregateId,
          request.state.version,
          JSON.stringify(request.state.state)
        )
      }
      return Connections.execute<{ position: number | string; version: number }>(onConnection, prepare(text), params)
        .pipe(
          Effect.catchAll((error): Effect.Effect<never, ConcurrencyConflict | EventStoreError> =>
            Dialect.isUniqueViolation(error) &&
              (error.cause as { readonly constraint?: unknown } | undefined)?.constraint === "effect_ddd_events_stream"
              ? Effect.fail(
                new ConcurrencyConflict({
                  aggregateType: request.aggregateType,
                  aggregateId: request.aggregateId,
                  expectedVersion: request.expectedVersion
                })
              )
              : Effect.fail(
                toStoreError(
                  error,
                  `append events: ${String((error.cause as Error | undefined)?.message ?? error.message)}`
                )
              )
          ),
          Effect.map((inserted) => withPositions(request, inserted))
        )
    }

    const service: Service = {
      ...reads,
      atomicAppend: dialect === "pg",
      inTransaction: Connections.withAmbientTransaction((tx) => Effect.succeed(tx !== undefined)),
      // SQLite's statements share its one pinned connection already
      ...(dialect === "pg"
        ? {
          withSession: <A, E, R>(self: Effect.Effect<A, E, R>) =>
            Connections.mapFailure(
              Connections.withSession(onConnection, Connections.mapFailure(self, (error) => new CallerFailure(error))),
              (error): E | EventStoreError => (error instanceof CallerFailure ? error.error as E : toStoreError(error))
            )
        }
        : {}),
      append: (request) =>
        Connections.withAmbientTransaction((tx) =>
          tx !== undefined
            ? appendInTransaction(request)
            : dialect === "pg"
            ? appendAtomically(request)
            : withTransaction(appendInTransaction(request))
        ),
      readAll: (after, limit, filter) => {
        const log = logQuery(filter)
        // SQLite binds positionally in text order: the LIMIT comes after the filter's parameters
        const params = dialect === "pg"
          ? [after.commitOrder, after.position, limit, ...log.params]
          : [after.commitOrder, after.position, ...log.params, limit]
        return Effect.map(query<EventRow>(log.text, params, "read log"), (rows) => rows.map(toLogged))
      },
      readPage: (after, limit, filter) => {
        const page = pageQuery(filter)
        const params = dialect === "pg"
          ? [after.commitOrder, after.position, limit, ...page.params]
          : [after.commitOrder, after.position, ...page.params, limit]
        return Effect.map(
          query<PageRow>(page.text, params, "read log"),
          (rows): LogPage => {
            const events: Array<LoggedEvent> = []
            for (const row of rows) if (row.event_id !== null) events.push(toLogged(row))
            if (events.length > 0 && events.length >= limit) {
              return { events, next: cursorOf(events[events.length - 1]!) }
            }
            const seen = rows[0]
            const heldBack = seen?.held_back === true
            if (seen === undefined || seen.seen_position === null) return { events, next: after, heldBack }
            const next = {
              commitOrder: Dialect.readNumber(seen.seen_commit_order),
              position: Dialect.readNumber(seen.seen_position)
            }
            return { events, next: isAfter(next, after) ? next : after, heldBack }
          }
        )
      },
      backlog: (after, filter) => {
        const backlog = backlogQuery(filter)
        return Effect.map(
          query<{ count: number | string; oldest: number | string | null }>(
            backlog.text,
            [after.commitOrder, after.position, ...backlog.params],
            "read backlog"
          ),
          (rows) => ({
            count: Dialect.readNumber(rows[0]?.count ?? 0),
            oldestOccurredAt: rows[0]?.oldest === null || rows[0]?.oldest === undefined
              ? undefined
              : Dialect.readNumber(rows[0].oldest)
          })
        )
      },
      cursorBefore: (position) =>
        Effect.map(
          query<{ commit_order: number | string; position: number | string }>(
            selectCursorBefore,
            [position],
            "read log"
          ),
          (rows) =>
            rows.length === 0 ? Option.none() : Option.some({
              commitOrder: Dialect.readNumber(rows[0]!.commit_order),
              position: Dialect.readNumber(rows[0]!.position) - 1
            })
        ),
      findIdempotencyRecord: (key) =>
        Effect.map(
          query<{
            key: string
            fingerprint: string
            aggregate_type: string
            aggregate_id: string
            result: unknown
            created_at: number | string
          }>(selectIdempotency, [key], "read idempotency record"),
          (rows) =>
            rows.length === 0 ? Option.none() : Option.some({
              key: rows[0]!.key,
              fingerprint: rows[0]!.fingerprint,
              aggregateType: rows[0]!.aggregate_type,
              aggregateId: rows[0]!.aggregate_id,
              result: Dialect.readJson(rows[0]!.result),
              createdAt: Dialect.readNumber(rows[0]!.created_at)
            })
        ),
      saveIdempotencyRecord: (record) =>
        Effect.flatMap(
          query(
            insertIdempotency,
            [
              record.key,
              record.fingerprint,
              record.aggregateType,
              record.aggregateId,
              JSON.stringify(record.result),
              record.createdAt
            ],
            "write idempotency record"
          ),
          (rows) =>
            rows.length === 1 ? Effect.void : Effect.fail(
              new ConcurrencyConflict({
                aggregateType: record.aggregateType,
                aggregateId: record.aggregateId,
                expectedVersion: 0
              })
            )
        ),
      withTransaction
    }
    return service
  })

/**
 * Every store the library's ports name, as the SQL adapter provides them.
 *
 * @since 0.1.0
 * @category models
 */
export type Stores = EventStore | Checkpoints | DeadLetters | Deadlines | Inbox | SubscriptionRegistry

/**
 * The SQL stores (the event store, and checkpoints, dead letters, deadlines, the inbox and the
 * registry of subscriptions over the same client, joining its transactions); runs the library's
 * migrations first.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options = {}
): Layer.Layer<Stores, EventStoreError, SqlClient.SqlClient> =>
  layerWithoutMigrations(options).pipe(
    Layer.provideMerge(
      Migrations.layer.pipe(
        Layer.catchAllCause((cause) =>
          Layer.fail(
            new EventStoreError({
              reason: "Unknown",
              detail: `migrations failed: ${Cause.pretty(cause)}`,
              cause: Cause.squash(cause)
            })
          )
        )
      )
    )
  )

/**
 * The SQL stores without running migrations (run `Migrations.run` yourself).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerWithoutMigrations = (
  options: Options = {}
): Layer.Layer<Stores, never, SqlClient.SqlClient> =>
  Layer.merge(Layer.effect(EventStore, make(options)), DeliveryStores.layer)
