/**
 * The delivery side of the outbox on SQL (SQLite and PostgreSQL): checkpoints, leases, dead
 * letters and the inbox, in the tables of migration `0004_outbox`, and process managers' deadlines
 * (`0005_deadlines`). Every statement runs on the
 * ambient transaction's connection when there is one, so it commits or rolls back with the
 * deliveries of `EventStore.withTransaction`.
 *
 * @since 0.1.0
 * @module
 */
import { SqlClient } from "@effect/sql"
import { SqlError } from "@effect/sql/SqlError"
import { Clock, Effect, Layer, Option } from "effect"
import { type EventStoreError, type LogCursor, logStart } from "../../ports/EventStore.js"
import {
  type DeadLetter,
  DeadLetterNotFound,
  type Lease,
  LeaseLost,
  Outbox,
  type Service,
  type SubscriptionInfo
} from "../../ports/Outbox.js"
import * as Dialect from "./internal/dialect.js"
import * as PinnedConnection from "./internal/pinnedConnection.js"
import * as Queries from "./internal/queries.js"
import { toStoreError } from "./internal/queries.js"
import * as PreparedStatements from "./PreparedStatements.js"

type LeaseRow = {
  readonly subscription: string
  readonly partition: number | string
  readonly owner: string
  readonly token: number | string
  readonly expires_at: number | string
}

type DeadLetterRow = {
  readonly id: string
  readonly subscription: string
  readonly partition: number | string
  readonly kind: DeadLetter["kind"]
  readonly event_id: string
  readonly position: number | string
  readonly aggregate_type: string
  readonly aggregate_id: string
  readonly version: number | string
  readonly event_type: string
  readonly error: string
  readonly attempts: number | string
  readonly first_failed_at: number | string
  readonly last_failed_at: number | string
  readonly status: DeadLetter["status"]
}

type SubscriptionRow = {
  readonly name: string
  readonly kind: SubscriptionInfo["kind"]
  readonly partitions: number | string
  readonly sources: unknown
  readonly registered_at: number | string
}

type DeadlineRow = {
  readonly process_manager: string
  readonly instance_id: string
  readonly name: string
  readonly due_at: number | string
}

const LEASE_COLUMNS = "subscription, partition, owner, token, expires_at"
const DEAD_LETTER_COLUMNS = "id, subscription, partition, kind, event_id, position, aggregate_type, aggregate_id, " +
  "version, event_type, error, attempts, first_failed_at, last_failed_at, status"

const toLease = (row: LeaseRow): Lease => ({
  subscription: row.subscription,
  partition: Dialect.readNumber(row.partition),
  owner: row.owner,
  token: Dialect.readNumber(row.token),
  expiresAt: Dialect.readNumber(row.expires_at)
})

const toDeadLetter = (row: DeadLetterRow): DeadLetter => ({
  id: row.id,
  subscription: row.subscription,
  partition: Dialect.readNumber(row.partition),
  kind: row.kind,
  eventId: row.event_id,
  position: Dialect.readNumber(row.position),
  aggregateType: row.aggregate_type,
  aggregateId: row.aggregate_id,
  version: Dialect.readNumber(row.version),
  eventType: row.event_type,
  error: row.error,
  attempts: Dialect.readNumber(row.attempts),
  firstFailedAt: Dialect.readNumber(row.first_failed_at),
  lastFailedAt: Dialect.readNumber(row.last_failed_at),
  status: row.status
})

/** Most ids per `DELETE ... IN (...)` statement. */
const DELETE_CHUNK = 500

/**
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<Service, never, SqlClient.SqlClient> = Effect.gen(function*() {
  const client = yield* SqlClient.SqlClient
  const sql = client.withoutTransforms()
  const dialect = Dialect.of(sql)
  const onConnection = PinnedConnection.onConnection(client, dialect)
  const prepare = yield* PreparedStatements.of(client)
  const p = (n: number) => Dialect.param(dialect, n)

  const selectCheckpoint = `SELECT commit_order, position FROM effect_ddd_checkpoints
    WHERE subscription = ${p(1)} AND partition = ${p(2)}`
  const upsertCheckpoint =
    `INSERT INTO effect_ddd_checkpoints (subscription, partition, commit_order, position, updated_at)
    VALUES (${p(1)}, ${p(2)}, ${p(3)}, ${p(4)}, ${p(5)})
    ON CONFLICT (subscription, partition) DO UPDATE
    SET commit_order = excluded.commit_order, position = excluded.position, updated_at = excluded.updated_at`
  // on PostgreSQL the row lock makes a concurrent takeover wait for this transaction's end
  const selectLeaseToken = `SELECT token FROM effect_ddd_leases WHERE subscription = ${p(1)} AND partition = ${p(2)}${
    dialect === "pg" ? " FOR UPDATE" : ""
  }`
  // free (no row), already the owner's (same token) or expired (new owner, next token)
  const acquire = `INSERT INTO effect_ddd_leases (${LEASE_COLUMNS})
    VALUES (${p(1)}, ${p(2)}, ${p(3)}, 1, ${p(4)})
    ON CONFLICT (subscription, partition) DO UPDATE SET
      token = CASE WHEN effect_ddd_leases.owner = excluded.owner THEN effect_ddd_leases.token ELSE effect_ddd_leases.token + 1 END,
      owner = excluded.owner,
      expires_at = excluded.expires_at
    WHERE effect_ddd_leases.owner = excluded.owner OR effect_ddd_leases.expires_at <= ${p(5)}
    RETURNING ${LEASE_COLUMNS}`
  const release = `UPDATE effect_ddd_leases SET expires_at = 0
    WHERE subscription = ${p(1)} AND partition = ${p(2)} AND owner = ${p(3)}`
  const allLeases = `SELECT ${LEASE_COLUMNS} FROM effect_ddd_leases ORDER BY subscription, partition`
  const leasesOf = `SELECT ${LEASE_COLUMNS} FROM effect_ddd_leases WHERE subscription = ${p(1)} ORDER BY partition`
  const insertDeadLetter = `INSERT INTO effect_ddd_dead_letters (${DEAD_LETTER_COLUMNS})
    VALUES (${Array.from({ length: 15 }, (_, i) => p(i + 1)).join(", ")})
    ON CONFLICT (id) DO UPDATE SET ${
    DEAD_LETTER_COLUMNS.split(", ").filter((c) => c !== "id").map((c) => `${c} = excluded.${c}`).join(", ")
  }`
  // a new token and an expired lease: the holder's next checkpoint write fails, the next taker re-reads
  const fenceLease = `UPDATE effect_ddd_leases SET token = token + 1, expires_at = 0
    WHERE subscription = ${p(1)} AND partition = ${p(2)}`
  const upsertSubscription = `INSERT INTO effect_ddd_subscriptions (name, kind, partitions, sources, registered_at)
    VALUES (${p(1)}, ${p(2)}, ${p(3)}, ${Dialect.jsonParam(dialect, 4)}, ${p(5)})
    ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, partitions = excluded.partitions,
      sources = excluded.sources, registered_at = excluded.registered_at`
  const allSubscriptions =
    `SELECT name, kind, partitions, sources, registered_at FROM effect_ddd_subscriptions ORDER BY name`
  const selectDeadLetter = `SELECT ${DEAD_LETTER_COLUMNS} FROM effect_ddd_dead_letters WHERE id = ${p(1)}`
  const updateStatus = `UPDATE effect_ddd_dead_letters SET status = ${p(1)} WHERE id = ${p(2)} RETURNING id`
  const insertInbox = `INSERT INTO effect_ddd_inbox (consumer, event_id, processed_at)
    VALUES (${p(1)}, ${p(2)}, ${p(3)})
    ON CONFLICT (consumer, event_id) DO NOTHING RETURNING event_id`

  const deleteDeadlines = `DELETE FROM effect_ddd_deadlines WHERE process_manager = ${p(1)} AND instance_id = ${p(2)}`
  const insertDeadline = `INSERT INTO effect_ddd_deadlines (process_manager, instance_id, name, due_at)
    VALUES (${p(1)}, ${p(2)}, ${p(3)}, ${p(4)})`
  const selectDue = `SELECT process_manager, instance_id, name, due_at FROM effect_ddd_deadlines
    WHERE process_manager = ${p(1)} AND due_at <= ${p(2)} ORDER BY due_at, instance_id, name LIMIT ${p(3)}`
  const selectNext = `SELECT min(due_at) AS due_at FROM effect_ddd_deadlines WHERE process_manager = ${p(1)}`
  const claim = `DELETE FROM effect_ddd_deadlines
    WHERE process_manager = ${p(1)} AND instance_id = ${p(2)} AND name = ${p(3)} AND due_at = ${p(4)} RETURNING name`

  // Inside a transaction, statements run straight on its connection; outside, on a connection
  // reserved for them.
  const query = Queries.make(onConnection, prepare)

  /** Runs `self` in the ambient transaction, or in a transaction of its own if there is none. */
  const atomically = <A, E>(self: Effect.Effect<A, E>): Effect.Effect<A, E | EventStoreError> =>
    Effect.flatMap(
      Effect.serviceOption(SqlClient.TransactionConnection),
      (tx) =>
        Option.isSome(tx) ? self : Effect.catchAll(
          sql.withTransaction(self),
          (error) => Effect.fail(error instanceof SqlError ? toStoreError(error) : error as E)
        )
    )

  /** Fenced: only while `token` holds the lease (made once: see SqlEventStore's transaction path). */
  const writeCheckpoint = Effect.fnUntraced(
    function*(subscription: string, partition: number, cursor: LogCursor, token: number) {
      const rows = yield* query<{ token: number | string }>(selectLeaseToken, [subscription, partition], "read lease")
      if (rows.length === 0 || Dialect.readNumber(rows[0]!.token) !== token) {
        return yield* new LeaseLost({ subscription, partition, token })
      }
      const now = yield* Clock.currentTimeMillis
      yield* query(
        upsertCheckpoint,
        [subscription, partition, cursor.commitOrder, cursor.position, now],
        "write checkpoint"
      )
    }
  )

  const service: Service = {
    checkpoint: (subscription, partition) =>
      Effect.map(
        query<{ commit_order: number | string; position: number | string }>(
          selectCheckpoint,
          [subscription, partition],
          "read checkpoint"
        ),
        (rows) =>
          rows.length === 0
            ? logStart
            : {
              commitOrder: Dialect.readNumber(rows[0]!.commit_order),
              position: Dialect.readNumber(rows[0]!.position)
            }
      ),
    saveCheckpoint: (subscription, partition, cursor, token) =>
      atomically(writeCheckpoint(subscription, partition, cursor, token)),
    acquireLease: (subscription, partition, owner, now, ttlMillis) =>
      Effect.map(
        query<LeaseRow>(acquire, [subscription, partition, owner, now + ttlMillis, now], "acquire lease"),
        (rows) => (rows.length === 0 ? Option.none() : Option.some(toLease(rows[0]!)))
      ),
    releaseLease: (subscription, partition, owner) =>
      Effect.asVoid(query(release, [subscription, partition, owner], "release lease")),
    leases: (subscription) =>
      Effect.map(
        subscription === undefined
          ? query<LeaseRow>(allLeases, [], "read leases")
          : query<LeaseRow>(leasesOf, [subscription], "read leases"),
        (rows) => rows.map(toLease)
      ),
    resetCheckpoint: (subscription, partition, cursor) =>
      atomically(Effect.gen(function*() {
        yield* query(fenceLease, [subscription, partition], "fence lease")
        const now = yield* Clock.currentTimeMillis
        yield* query(
          upsertCheckpoint,
          [subscription, partition, cursor.commitOrder, cursor.position, now],
          "write checkpoint"
        )
      })),
    registerSubscription: (info) =>
      Effect.asVoid(query(
        upsertSubscription,
        [info.name, info.kind, info.partitions, JSON.stringify(info.sources), info.registeredAt],
        "register subscription"
      )),
    subscriptions: Effect.map(
      query<SubscriptionRow>(allSubscriptions, [], "read subscriptions"),
      (rows) =>
        rows.map((row) => ({
          name: row.name,
          kind: row.kind,
          partitions: Dialect.readNumber(row.partitions),
          sources: Dialect.readJson(row.sources) as SubscriptionInfo["sources"],
          registeredAt: Dialect.readNumber(row.registered_at)
        }))
    ),
    addDeadLetter: (d) =>
      Effect.asVoid(query(insertDeadLetter, [
        d.id,
        d.subscription,
        d.partition,
        d.kind,
        d.eventId,
        d.position,
        d.aggregateType,
        d.aggregateId,
        d.version,
        d.eventType,
        d.error,
        d.attempts,
        d.firstFailedAt,
        d.lastFailedAt,
        d.status
      ], "add dead letter")),
    deadLetters: (filter) => {
      const params: Array<unknown> = []
      const conditions: Array<string> = []
      const where = (column: string, value: unknown) => {
        if (value === undefined) return
        params.push(value)
        conditions.push(`${column} = ${p(params.length)}`)
      }
      where("subscription", filter.subscription)
      where("aggregate_type", filter.aggregateType)
      where("aggregate_id", filter.aggregateId)
      where("partition", filter.partition)
      const text = `SELECT ${DEAD_LETTER_COLUMNS} FROM effect_ddd_dead_letters${
        conditions.length === 0 ? "" : ` WHERE ${conditions.join(" AND ")}`
      } ORDER BY position, id`
      return Effect.map(query<DeadLetterRow>(text, params, "read dead letters"), (rows) => rows.map(toDeadLetter))
    },
    deadLetter: (id) =>
      Effect.map(
        query<DeadLetterRow>(selectDeadLetter, [id], "read dead letter"),
        (rows) => (rows.length === 0 ? Option.none() : Option.some(toDeadLetter(rows[0]!)))
      ),
    setDeadLetterStatus: (id, status) =>
      Effect.flatMap(
        query(updateStatus, [status, id], "update dead letter"),
        (rows) => (rows.length === 0 ? Effect.fail(new DeadLetterNotFound({ id })) : Effect.void)
      ),
    deleteDeadLetters: (ids) =>
      Effect.forEach(
        Array.from({ length: Math.ceil(ids.length / DELETE_CHUNK) }, (_, i) =>
          ids.slice(i * DELETE_CHUNK, (i + 1) * DELETE_CHUNK)),
        (chunk) =>
          query(
            `DELETE FROM effect_ddd_dead_letters WHERE id IN (${
              chunk.map((_, i) => p(i + 1)).join(", ")
            })`,
            chunk,
            "delete dead letters"
          ),
        { discard: true }
      ),
    markProcessed: (consumer, eventId) =>
      Effect.flatMap(
        Clock.currentTimeMillis,
        (now) => Effect.map(query(insertInbox, [consumer, eventId, now], "mark processed"), (rows) => rows.length === 1)
      ),
    setDeadlines: (processManager, instanceId, deadlines) =>
      atomically(Effect.zipRight(
        query(deleteDeadlines, [processManager, instanceId], "cancel deadlines"),
        Effect.forEach(
          deadlines,
          (d) => query(insertDeadline, [processManager, instanceId, d.name, d.dueAt], "schedule deadline"),
          { discard: true }
        )
      )),
    dueDeadlines: (processManager, now, limit) =>
      Effect.map(
        query<DeadlineRow>(selectDue, [processManager, now, limit], "read due deadlines"),
        (rows) =>
          rows.map((row) => ({
            processManager: row.process_manager,
            instanceId: row.instance_id,
            name: row.name,
            dueAt: Dialect.readNumber(row.due_at)
          }))
      ),
    nextDeadline: (processManager) =>
      Effect.map(
        query<{ due_at: number | string | null }>(selectNext, [processManager], "read next deadline"),
        (rows) => Option.map(Option.fromNullable(rows[0]?.due_at), Dialect.readNumber)
      ),
    claimDeadline: (d) =>
      Effect.map(
        query(claim, [d.processManager, d.instanceId, d.name, d.dueAt], "claim deadline"),
        (rows) => rows.length === 1
      )
  }
  return service
})

/**
 * The SQL outbox, over the tables of the library's migrations (run by `SqlEventStore.layer()`
 * or `Migrations.run`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerWithoutMigrations: Layer.Layer<Outbox, never, SqlClient.SqlClient> = Layer.effect(Outbox, make)
