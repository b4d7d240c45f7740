/**
 * The results of commands executed with an idempotency key (`effect_ddd_idempotency`): stored in
 * the command's transaction, so a repeat finds the first result; a key stored concurrently by
 * another transaction is a conflict, and the command handler runs the command again (and finds it).
 */
import { SqlSchema } from "@effect/sql"
import { Effect, Schema } from "effect"
import { ConcurrencyConflict, type Service } from "../../../ports/EventStore.js"
import { type Query, toDecodeError } from "./queries.js"
import * as Rows from "./rows.js"
import type { Statements } from "./statements.js"

export type Idempotency = Pick<Service, "findIdempotencyRecord" | "saveIdempotencyRecord">

export const make = (query: Query, statements: Statements): Idempotency => {
  const find = SqlSchema.findOne({
    Request: Schema.String,
    Result: Rows.IdempotencyRow,
    execute: (key) => query(statements.selectIdempotency, [key], "read idempotency record")
  })
  return {
    findIdempotencyRecord: (key) => Effect.mapError(find(key), toDecodeError("read idempotency record")),
    saveIdempotencyRecord: (record) =>
      Effect.flatMap(
        query(
          statements.insertIdempotency,
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
      )
  }
}
