/** Checkpoints and leases on SQL (tables `effect_ddd_checkpoints` and `effect_ddd_leases`). */
import { Clock, Effect, Option } from "effect"
import { type Lease, LeaseLost, type Service } from "../../../ports/Checkpoints.js"
import { type LogCursor, logStart } from "../../../ports/EventStore.js"
import type { DeliveryQuery } from "./deliveryQuery.js"
import * as Dialect from "./dialect.js"

type LeaseRow = {
  readonly subscription: string
  readonly partition: number | string
  readonly owner: string
  readonly token: number | string
  readonly expires_at: number | string
}

const LEASE_COLUMNS = "subscription, partition, owner, token, expires_at"

const toLease = (row: LeaseRow): Lease => ({
  subscription: row.subscription,
  partition: Dialect.readNumber(row.partition),
  owner: row.owner,
  token: Dialect.readNumber(row.token),
  expiresAt: Dialect.readNumber(row.expires_at)
})

const statements = ({ dialect, p }: DeliveryQuery) => ({
  select: `SELECT commit_order, position FROM effect_ddd_checkpoints
    WHERE subscription = ${p(1)} AND partition = ${p(2)}`,
  upsert: `INSERT INTO effect_ddd_checkpoints (subscription, partition, commit_order, position, updated_at)
    VALUES (${p(1)}, ${p(2)}, ${p(3)}, ${p(4)}, ${p(5)})
    ON CONFLICT (subscription, partition) DO UPDATE
    SET commit_order = excluded.commit_order, position = excluded.position, updated_at = excluded.updated_at`,
  // on PostgreSQL the row lock makes a concurrent takeover wait for this transaction's end
  selectToken: `SELECT token FROM effect_ddd_leases WHERE subscription = ${p(1)} AND partition = ${p(2)}${
    dialect === "pg" ? " FOR UPDATE" : ""
  }`,
  // free (no row), already the owner's (same token) or expired (new owner, next token)
  acquire: `INSERT INTO effect_ddd_leases (${LEASE_COLUMNS})
    VALUES (${p(1)}, ${p(2)}, ${p(3)}, 1, ${p(4)})
    ON CONFLICT (subscription, partition) DO UPDATE SET
      token = CASE WHEN effect_ddd_leases.owner = excluded.owner THEN effect_ddd_leases.token ELSE effect_ddd_leases.token + 1 END,
      owner = excluded.owner,
      expires_at = excluded.expires_at
    WHERE effect_ddd_leases.owner = excluded.owner OR effect_ddd_leases.expires_at <= ${p(5)}
    RETURNING ${LEASE_COLUMNS}`,
  release: `UPDATE effect_ddd_leases SET expires_at = 0
    WHERE subscription = ${p(1)} AND partition = ${p(2)} AND owner = ${p(3)}`,
  all: `SELECT ${LEASE_COLUMNS} FROM effect_ddd_leases ORDER BY subscription, partition`,
  of: `SELECT ${LEASE_COLUMNS} FROM effect_ddd_leases WHERE subscription = ${p(1)} ORDER BY partition`,
  // a new token and an expired lease: the holder's next checkpoint write fails, the next taker re-reads
  fence: `UPDATE effect_ddd_leases SET token = token + 1, expires_at = 0
    WHERE subscription = ${p(1)} AND partition = ${p(2)}`
})

export const make = (q: DeliveryQuery): Service => {
  const s = statements(q)
  const { atomically, query } = q
  const write = (subscription: string, partition: number, cursor: LogCursor) =>
    Effect.flatMap(
      Clock.currentTimeMillis,
      (now) => query(s.upsert, [subscription, partition, cursor.commitOrder, cursor.position, now], "write checkpoint")
    )
  /** Fenced: only while `token` holds the lease (made once: it is on the relay's hot path). */
  const save = Effect.fnUntraced(function*(subscription: string, partition: number, cursor: LogCursor, token: number) {
    const rows = yield* query<{ token: number | string }>(s.selectToken, [subscription, partition], "read lease")
    if (rows.length === 0 || Dialect.readNumber(rows[0]!.token) !== token) {
      return yield* new LeaseLost({ subscription, partition, token })
    }
    yield* write(subscription, partition, cursor)
  })
  return {
    get: (subscription, partition) =>
      Effect.map(
        query<{ commit_order: number | string; position: number | string }>(
          s.select,
          [subscription, partition],
          "read checkpoint"
        ),
        (rows) =>
          rows.length === 0 ? logStart : {
            commitOrder: Dialect.readNumber(rows[0]!.commit_order),
            position: Dialect.readNumber(rows[0]!.position)
          }
      ),
    save: (subscription, partition, cursor, token) => atomically(save(subscription, partition, cursor, token)),
    reset: (subscription, partition, cursor) =>
      atomically(Effect.zipRight(
        query(s.fence, [subscription, partition], "fence lease"),
        write(subscription, partition, cursor)
      )),
    acquireLease: (subscription, partition, owner, now, ttlMillis) =>
      Effect.map(
        query<LeaseRow>(s.acquire, [subscription, partition, owner, now + ttlMillis, now], "acquire lease"),
        (rows) => (rows.length === 0 ? Option.none() : Option.some(toLease(rows[0]!)))
      ),
    releaseLease: (subscription, partition, owner) =>
      Effect.asVoid(query(s.release, [subscription, partition, owner], "release lease")),
    leases: (subscription) =>
      Effect.map(
        subscription === undefined
          ? query<LeaseRow>(s.all, [], "read leases")
          : query<LeaseRow>(s.of, [subscription], "read leases"),
        (rows) => rows.map(toLease)
      )
  }
}
