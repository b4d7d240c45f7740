/**
 * `effect-ddd prune [--dry-run]` and a replay into the pruned range, run in the test's process
 * (the program the bin runs), on a database whose application recorded a retention policy. Run on
 * SQLite and PostgreSQL.
 */
import type { SqlClient as Sql } from "@effect/sql"
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import { Checkpoints, EventStore, type Retention, SubscriptionRegistry } from "effect-ddd"
import { SqlEventStore } from "effect-ddd/sql"
import { randomUUID } from "node:crypto"
import { cliInProcess as cli, parsed, stackTrace } from "../support/cli.js"
import type { Database } from "./CliContract.js"

const HOUR = 60 * 60 * 1000

const policy: Retention.Policy = {
  aggregates: [{ aggregateType: "Order", events: "delivered", keepMillis: HOUR }],
  processManagers: [],
  idempotencyMillis: 7 * 24 * HOUR,
  inboxMillis: 7 * 24 * HOUR
}

const clientOf = (db: Database): Layer.Layer<Sql.SqlClient, unknown> =>
  db.dialect === "pg"
    ? PgClient.layer({ url: Redacted.make(db.target), maxConnections: 2 })
    : SqliteClient.layer({ filename: db.target })

/** What the application does: its store layer records the policy; events a year old, one reader. */
const seed = (db: Database) =>
  Effect.runPromise(
    Effect.gen(function*() {
      const store = yield* EventStore.EventStore
      const sql = yield* SqlClient.SqlClient
      const stored = yield* store.append({
        aggregateType: "Order",
        aggregateId: "o1",
        expectedVersion: 0,
        events: [1, 2, 3].map((version) => ({
          eventId: randomUUID(),
          aggregateType: "Order",
          aggregateId: "o1",
          version,
          eventType: "Happened",
          schemaVersion: 1,
          payload: {},
          occurredAt: 1_000,
          metadata: {}
        })),
        state: { version: 3, state: {} }
      })
      yield* (yield* SubscriptionRegistry.SubscriptionRegistry).register({
        name: "order-view",
        kind: "projection",
        partitions: 1,
        sources: [{ aggregateType: "Order", eventTypes: [] }],
        registeredAt: 0
      })
      // the projection has read the first two events
      const [row] = yield* sql<{ commit_order: number | string }>`
        SELECT commit_order FROM effect_ddd_events WHERE position = ${stored[1]!.position}`
      yield* (yield* Checkpoints.Checkpoints).reset("order-view", 0, {
        commitOrder: Number(row!.commit_order),
        position: stored[1]!.position
      })
      yield* store.saveIdempotencyRecord({
        key: "old-key",
        fingerprint: "f",
        aggregateType: "Order",
        aggregateId: "o1",
        result: {},
        createdAt: 1_000
      })
      yield* sql`INSERT INTO effect_ddd_inbox (consumer, event_id, processed_at) VALUES ('c', 'm', 1000)`
      return stored.map((e) => e.position)
    }).pipe(Effect.provide(SqlEventStore.layer({ retention: policy }).pipe(Layer.provideMerge(clientOf(db)))))
  )

const eventCount = (db: Database) =>
  Effect.runPromise(
    Effect.flatMap(SqlClient.SqlClient, (sql) =>
      Effect.map(sql<{ n: number | string }>`SELECT count(*) AS n FROM effect_ddd_events`, (rows) =>
        Number(rows[0]!.n))).pipe(Effect.provide(clientOf(db)))
  )

export const suite = (name: string, database: () => Promise<Database>) =>
  describe(`CLI prune on ${name}`, { timeout: 120_000 }, () => {
    it("prune --dry-run reports without removing; prune removes and reports; a replay into the pruned range is refused", async () => {
      const db = await database()
      const run = (...args: Array<string>) => cli([...args, "--database", db.target])
      expect((await run("migrate")).code).toBe(0)
      const positions = await seed(db)

      const dry = await run("prune", "--dry-run", "--json")
      expect(dry.code, dry.stderr).toBe(0)
      expect(parsed(dry)).toMatchObject({
        dryRun: true,
        removed: { events: 0, idempotency: 0, inbox: 0, processInstances: 0 },
        removable: { events: 2, idempotency: 1, inbox: 1, processInstances: 0 },
        heldBack: [{ subscription: "order-view", aggregateType: "Order", events: 1 }],
        oldestEventKept: 1_000
      })
      expect(await eventCount(db)).toBe(3)
      const dryText = await run("prune", "--dry-run")
      expect(dryText.stdout).toContain("dry run: nothing removed")
      expect(dryText.stdout).toMatch(/events\s+2/)
      expect(dryText.stdout).toContain("held back: 1 Order event(s) not yet delivered to order-view")

      const pruned = await run("prune")
      expect(pruned.code, pruned.stderr).toBe(0)
      expect(pruned.stdout).toMatch(/^pruned/)
      expect(pruned.stdout).toMatch(/events\s+2/)
      expect(pruned.stdout).toMatch(/idempotency records\s+1/)
      expect(pruned.stdout).toMatch(/inbox rows\s+1/)
      expect(await eventCount(db)).toBe(1)
      expect(parsed(await run("prune", "--json"))).toMatchObject({
        removed: { events: 0, idempotency: 0, inbox: 0 },
        removable: { events: 0 }
      })

      const replay = await run("replay", "order-view", "--detach")
      expect(replay.code).toBe(1)
      expect(replay.stderr).toContain(`events of Order up to position ${positions[1]} were pruned`)
      expect(replay.stderr).toContain(`replay from position ${positions[2]} or later`)
      expect(replay.stderr).not.toMatch(stackTrace)
      const later = await run("replay", "order-view", "--from", String(positions[2]), "--detach")
      expect(later.code, later.stderr).toBe(0)
    })
  })
