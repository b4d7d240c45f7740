/**
 * The SQL store reads its hot rows (events, state rows) by hand, and the others with their
 * schema: both readings of one shape must agree, for rows as SQLite returns them (numbers, JSON
 * text) and as node-postgres does (BIGINT as strings, JSONB parsed).
 */
import { describe, expect, it } from "@effect/vitest"
import { Schema } from "effect"
import * as Rows from "../../src/adapters/sql/internal/rows.js"

const payload = { _tag: "StockRestocked", sku: "sku-1", quantity: 2 }
const metadata = { correlationId: "c-1", traceparent: "00-abc-def-01" }

const sqliteRow = {
  commit_order: 0,
  position: 41,
  event_id: "e-41",
  aggregate_type: "Inventory",
  aggregate_id: "sku-1",
  version: 3,
  event_type: "StockRestocked",
  schema_version: 1,
  payload: JSON.stringify(payload),
  metadata: JSON.stringify(metadata),
  occurred_at: 1_700_000_000_123
}
const pgRow = {
  ...sqliteRow,
  commit_order: "9007",
  position: "41",
  occurred_at: "1700000000123",
  payload,
  metadata
}

describe("SQL rows", () => {
  for (const [dialect, row] of [["SQLite", sqliteRow], ["PostgreSQL", pgRow]] as const) {
    it(`an event row of ${dialect} reads the same by hand as by its schema`, () => {
      const decoded = Schema.decodeUnknownSync(Rows.LogRow)(row)
      const expected = {
        position: decoded.position,
        eventId: decoded.event_id,
        aggregateType: decoded.aggregate_type,
        aggregateId: decoded.aggregate_id,
        version: decoded.version,
        eventType: decoded.event_type,
        schemaVersion: decoded.schema_version,
        payload: decoded.payload,
        metadata: decoded.metadata,
        occurredAt: decoded.occurred_at
      }
      expect(expected.payload).toEqual(payload)
      expect(expected.position).toBe(41)
      expect(Rows.toStored(row)).toEqual(expected)
      expect({ ...Rows.toLogged(row) }).toEqual({ ...expected, commitOrder: decoded.commit_order })
    })
  }

  it("the columns selected are the schema's, in its order", () => {
    expect(Rows.EVENT_COLUMNS).toBe(
      "position, event_id, aggregate_type, aggregate_id, version, event_type, schema_version, payload, metadata, occurred_at"
    )
    expect(Rows.IDEMPOTENCY_COLUMNS).toBe("key, fingerprint, aggregate_type, aggregate_id, result, created_at")
  })

  it("an idempotency row decodes as the port's record; a bad one is a parse error", () => {
    const row = {
      key: "k-1",
      fingerprint: "f",
      aggregate_type: "Order",
      aggregate_id: "o-1",
      result: "{\"version\":2}",
      created_at: "1700000000000"
    }
    expect(Schema.decodeUnknownSync(Rows.IdempotencyRow)(row)).toEqual({
      key: "k-1",
      fingerprint: "f",
      aggregateType: "Order",
      aggregateId: "o-1",
      result: { version: 2 },
      createdAt: 1_700_000_000_000
    })
    expect(Schema.decodeUnknownEither(Rows.IdempotencyRow)({ ...row, result: "{not json" })._tag).toBe("Left")
  })
})
