/**
 * The ledger check finds what it is meant to find: a history with an order lost, an order placed
 * twice, a reservation made twice, a saga command executed twice, a restock lost, an order
 * pending, a process never started and stock left reserved (written straight into a SQLite file,
 * as a faulty server would have left it).
 */
import { SqliteClient } from "@effect/sql-sqlite-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { type DomainEvent, EventStore } from "effect-ddd"
import { SqlEventStore } from "effect-ddd/sql"
import { randomUUID } from "node:crypto"
import { join } from "node:path"
import { tempDataDir } from "../support/server.js"
import { emptyJournal } from "./journal.js"
import * as Ledger from "./ledger.js"

const event = (
  aggregateType: string,
  aggregateId: string,
  version: number,
  payload: { readonly _tag: string } & Record<string, unknown>,
  idempotencyKey?: string
): DomainEvent.Unsaved => ({
  eventId: randomUUID(),
  aggregateType,
  aggregateId,
  version,
  eventType: payload._tag,
  schemaVersion: 1,
  payload,
  occurredAt: 0,
  metadata: idempotencyKey === undefined ? {} : { idempotencyKey }
})

describe("the ledger check", () => {
  it("reports lost, duplicated and stuck effects", async () => {
    const file = join(tempDataDir(), "app.db")
    const lines = [{ sku: "sku-a", quantity: 2 }]
    const history = [
      [
        event("Inventory", "sku-a", 1, { _tag: "StockRestocked", sku: "sku-a", quantity: 5 }),
        event(
          "Inventory",
          "sku-a",
          2,
          { _tag: "StockReserved", sku: "sku-a", orderId: "o1", quantity: 2 },
          "OrderFulfilment:o1:1"
        ),
        event(
          "Inventory",
          "sku-a",
          3,
          { _tag: "StockReserved", sku: "sku-a", orderId: "o1", quantity: 2 },
          "OrderFulfilment:o1:1"
        )
      ],
      [event("Order", "o1", 1, { _tag: "OrderPlaced", orderId: "o1", customerId: "c", lines }, "orders:k1")],
      [event("Order", "o2", 1, { _tag: "OrderPlaced", orderId: "o2", customerId: "c", lines }, "orders:k1")]
    ]
    await Effect.runPromise(
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        for (const events of history) {
          for (const e of events) {
            yield* store.append({
              aggregateType: e.aggregateType,
              aggregateId: e.aggregateId,
              expectedVersion: e.version - 1,
              events: [e]
            })
          }
        }
      }).pipe(Effect.provide(SqlEventStore.layer().pipe(Layer.provide(SqliteClient.layer({ filename: file })))))
    )

    const journal = emptyJournal()
    journal.orders.push({ key: "k1", customerId: "c", lines, orderId: "o1", attempts: 1 })
    journal.orders.push({ key: "k3", customerId: "c", lines, orderId: "o3", attempts: 2 })
    journal.restocks.push({ sku: "sku-a", quantity: 5, outcome: "accepted" }, {
      sku: "sku-a",
      quantity: 3,
      outcome: "accepted"
    })
    journal.cancels.push({ orderId: "o1", outcome: "accepted" })
    const ledger = Ledger.open(Ledger.sqlite(file))
    try {
      const report = await ledger.check(journal)
      const details = (kind: Ledger.ProblemKind) => report.problems.filter((p) => p.kind === kind).map((p) => p.detail)
      expect(details("lost")).toEqual(expect.arrayContaining([
        "order o3 was accepted but never placed",
        "order o1: the cancel was accepted, the order is pending",
        expect.stringMatching(/^sku-a: 1 restocks \(5 units\), 2 accepted \(8 units\)/)
      ]))
      expect(details("duplicated")).toEqual(expect.arrayContaining([
        "order o2 was placed but no client was told",
        "key orders:k1 placed 2 orders",
        "sku-a, order o1: StockReserved 2 times",
        expect.stringMatching(/^OrderFulfilment:o1:1 executed more than once/)
      ]))
      expect(details("stuck")).toEqual(expect.arrayContaining([
        "order o1 is pending",
        "process o1 never started",
        "sku-a: 4 still reserved"
      ]))
      expect(details("wrong")).toEqual(expect.arrayContaining([
        "OrderFulfilment:o1:1 wrote to Inventory/sku-a, which its step does not name"
      ]))
    } finally {
      await ledger.close()
    }
  })
})
