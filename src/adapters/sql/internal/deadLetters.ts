/** Dead letters on SQL (table `effect_ddd_dead_letters`). */
import { Effect, Either, Encoding, Option } from "effect"
import { type DeadLetter, DeadLetterNotFound, type Filter, type Service } from "../../../ports/DeadLetters.js"
import type { DeliveryQuery } from "./deliveryQuery.js"
import * as Dialect from "./dialect.js"

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
  readonly message: unknown
}

const COLUMNS = "id, subscription, partition, kind, event_id, position, aggregate_type, aggregate_id, " +
  "version, event_type, error, attempts, first_failed_at, last_failed_at, status, message"

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
  status: row.status,
  ...(row.message === null || row.message === undefined ? {} : { message: readMessage(row.message) })
})

/** A kept broker message as JSON (the payload in base64). */
const writeMessage = (message: DeadLetter["message"]): string | null =>
  message === undefined ? null : JSON.stringify({ ...message, payload: Encoding.encodeBase64(message.payload) })

const readMessage = (value: unknown): DeadLetter["message"] => {
  const json = Dialect.readJson(value) as Omit<NonNullable<DeadLetter["message"]>, "payload"> & { payload: string }
  return { ...json, payload: Either.getOrElse(Encoding.decodeBase64(json.payload), () => new Uint8Array(0)) }
}

const toRow = (d: DeadLetter): ReadonlyArray<unknown> => [
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
  d.status,
  writeMessage(d.message)
]

/** Most ids per `DELETE ... IN (...)` statement. */
const DELETE_CHUNK = 500

/** The `WHERE` clause of a filter and its parameters. */
const where = (filter: Filter, p: DeliveryQuery["p"]) => {
  const params: Array<unknown> = []
  const conditions: Array<string> = []
  const condition = (column: string, value: unknown) => {
    if (value === undefined) return
    params.push(value)
    conditions.push(`${column} = ${p(params.length)}`)
  }
  condition("subscription", filter.subscription)
  condition("aggregate_type", filter.aggregateType)
  condition("aggregate_id", filter.aggregateId)
  condition("partition", filter.partition)
  return { text: conditions.length === 0 ? "" : ` WHERE ${conditions.join(" AND ")}`, params }
}

export const make = ({ dialect, p, query }: DeliveryQuery): Service => {
  const insert = `INSERT INTO effect_ddd_dead_letters (${COLUMNS})
    VALUES (${Array.from({ length: 15 }, (_, i) => p(i + 1)).join(", ")}, ${Dialect.jsonParam(dialect, 16)})
    ON CONFLICT (id) DO UPDATE SET ${
    COLUMNS.split(", ").filter((c) => c !== "id").map((c) => `${c} = excluded.${c}`).join(", ")
  }`
  const selectOne = `SELECT ${COLUMNS} FROM effect_ddd_dead_letters WHERE id = ${p(1)}`
  const updateStatus = `UPDATE effect_ddd_dead_letters SET status = ${p(1)} WHERE id = ${p(2)} RETURNING id`
  return {
    add: (d) => Effect.asVoid(query(insert, toRow(d), "add dead letter")),
    list: (filter) => {
      const clause = where(filter, p)
      return Effect.map(
        query<DeadLetterRow>(
          `SELECT ${COLUMNS} FROM effect_ddd_dead_letters${clause.text} ORDER BY position, id`,
          clause.params,
          "read dead letters"
        ),
        (rows) => rows.map(toDeadLetter)
      )
    },
    get: (id) =>
      Effect.map(
        query<DeadLetterRow>(selectOne, [id], "read dead letter"),
        (rows) => (rows.length === 0 ? Option.none() : Option.some(toDeadLetter(rows[0]!)))
      ),
    setStatus: (id, status) =>
      Effect.flatMap(
        query(updateStatus, [status, id], "update dead letter"),
        (rows) => (rows.length === 0 ? Effect.fail(new DeadLetterNotFound({ id })) : Effect.void)
      ),
    remove: (ids) =>
      Effect.forEach(
        Array.from(
          { length: Math.ceil(ids.length / DELETE_CHUNK) },
          (_, i) => ids.slice(i * DELETE_CHUNK, (i + 1) * DELETE_CHUNK)
        ),
        (chunk) =>
          query(
            `DELETE FROM effect_ddd_dead_letters WHERE id IN (${chunk.map((_, i) => p(i + 1)).join(", ")})`,
            chunk,
            "delete dead letters"
          ),
        { discard: true }
      )
  }
}
