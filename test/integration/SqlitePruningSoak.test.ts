/**
 * A small soak on a real SQLite file (`test/support/pruningSoak.ts`): 20,000 events through a
 * state-stored aggregate while a relay delivers them to a ledger projection and the background
 * pruner removes what it delivered. The ledger (written in each delivery's transaction) must hold
 * every event exactly once, the events table must stay bounded and end empty, and idempotent
 * repeats must still replay. `npm run bench -- soak` runs the same with 1,000,000 events.
 */
import { SqlClient } from "@effect/sql"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { CommandHandler, Pruner, Pruning } from "effect-ddd"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Inventory } from "../../examples/http-server/Domain/Inventory.js"
import { Sku } from "../../examples/http-server/Domain/Order.js"
import * as Soak from "../support/pruningSoak.js"

const SKUS = 200
const PER_WAVE = 5
const WAVES = 20 // 200 SKUs x 5 restocks x 20 waves: 20,000 events
const RESTOCKS = PER_WAVE * WAVES

const fileBytes = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  Effect.map(
    sql<{ bytes: number }>`SELECT page_count * page_size AS bytes FROM pragma_page_count(), pragma_page_size()`,
    (rows) => Number(rows[0]!.bytes)
  ))

describe("pruning soak (SQLite)", () => {
  it.live(
    "20,000 events: the subscription gets each once while delivered events are pruned; the table ends empty",
    () =>
      Effect.gen(function*() {
        const outcome = yield* Soak.run({ skus: SKUS, perWave: PER_WAVE, waves: WAVES }, fileBytes)
        expect(outcome.events).toBe(SKUS * RESTOCKS)
        expect(outcome.ledger).toEqual({ rows: SKUS * RESTOCKS, distinct: SKUS * RESTOCKS, completeSkus: SKUS })
        expect(outcome.keyed).toBe(2 * WAVES)
        expect(outcome.replayed).toBe(outcome.keyed)
        // bounded: after every wave the pruner brought the table back under one wave
        expect(outcome.samples.every((s) => s.kept < SKUS * PER_WAVE)).toBe(true)
        // what the background pruner left (events of the last millisecond, the last checkpoints) goes now
        yield* Effect.sleep("5 millis")
        yield* Pruner.run()
        const sql = yield* SqlClient.SqlClient
        expect(Number((yield* sql<{ n: number }>`SELECT count(*) AS n FROM effect_ddd_events`)[0]!.n)).toBe(0)
        const marks = yield* (yield* Pruning.Pruning).prunedThrough
        expect(marks.get(Inventory.name)?.position).toBe(SKUS * RESTOCKS)
        // the state rows remain: the aggregates still load and take commands
        const next = yield* CommandHandler.execute(Inventory, Sku.make("soak-0"), "restock", { quantity: 1 })
        expect(next.version).toBe(RESTOCKS + 1)
      }).pipe(
        Effect.provide(Soak.layer(
          SqliteClient.layer({ filename: join(mkdtempSync(join(tmpdir(), "effect-ddd-soak-")), "soak.db") })
        ))
      ),
    { timeout: 600_000 }
  )
})
