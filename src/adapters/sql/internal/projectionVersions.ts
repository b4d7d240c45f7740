/** Projections' versions on SQL (table `effect_ddd_projections`, migration `0009_projections`). */
import { Effect } from "effect"
import type { Service, Status, Version } from "../../../ports/ProjectionVersions.js"
import type { DeliveryQuery } from "./deliveryQuery.js"
import * as Dialect from "./dialect.js"

type VersionRow = {
  readonly name: string
  readonly version: number | string
  readonly subscription: string
  readonly status: Status
  readonly detail: string | null
  readonly rebuild_requested: number | string | boolean
  readonly created_at: number | string
  readonly updated_at: number | string
}

const COLUMNS = "name, version, subscription, status, detail, rebuild_requested, created_at, updated_at"

const toVersion = (row: VersionRow): Version => ({
  name: row.name,
  version: Dialect.readNumber(row.version),
  subscription: row.subscription,
  status: row.status,
  detail: row.detail,
  rebuildRequested: Dialect.readNumber(row.rebuild_requested) !== 0,
  createdAt: Dialect.readNumber(row.created_at),
  updatedAt: Dialect.readNumber(row.updated_at)
})

// every parameter is used once, in order (SQLite's placeholders are positional)
const statements = ({ p }: DeliveryQuery) => ({
  all: `SELECT ${COLUMNS} FROM effect_ddd_projections ORDER BY name, version`,
  of: `SELECT ${COLUMNS} FROM effect_ddd_projections WHERE name = ${p(1)} ORDER BY version`,
  begin: `INSERT INTO effect_ddd_projections (${COLUMNS})
    VALUES (${p(1)}, ${p(2)}, ${p(3)}, ${p(4)}, NULL, 0, ${p(5)}, ${p(6)})
    ON CONFLICT (name, version) DO UPDATE SET status = excluded.status, subscription = excluded.subscription,
      detail = NULL, rebuild_requested = 0, updated_at = excluded.updated_at
    WHERE effect_ddd_projections.status = 'refused'
    RETURNING version`,
  refuse: `INSERT INTO effect_ddd_projections (${COLUMNS})
    VALUES (${p(1)}, ${p(2)}, ${p(3)}, 'refused', ${p(4)}, 0, ${p(5)}, ${p(6)})
    ON CONFLICT (name, version) DO UPDATE SET status = 'refused', detail = excluded.detail,
      rebuild_requested = 0, updated_at = excluded.updated_at`,
  setStatus: `UPDATE effect_ddd_projections SET status = ${p(1)}, updated_at = ${p(2)}
    WHERE name = ${p(3)} AND version = ${p(4)} AND status = ${p(5)} RETURNING version`,
  retireServing: `UPDATE effect_ddd_projections SET status = 'retiring', updated_at = ${p(1)}
    WHERE name = ${p(2)} AND status = 'serving'`,
  requestRebuild: `UPDATE effect_ddd_projections SET rebuild_requested = 1, updated_at = ${p(1)}
    WHERE name = ${p(2)} AND version = ${p(3)} AND status IN ('building', 'serving') RETURNING version`,
  startRebuild: `UPDATE effect_ddd_projections SET rebuild_requested = 0, detail = NULL, updated_at = ${p(1)}
    WHERE name = ${p(2)} AND version = ${p(3)} AND rebuild_requested <> 0 RETURNING version`
})

export const make = (q: DeliveryQuery): Service => {
  const s = statements(q)
  const { atomically, query } = q
  const changed = (text: string, params: ReadonlyArray<unknown>, what: string) =>
    Effect.map(query<{ version: number }>(text, params, what), (rows) => rows.length > 0)
  const setStatus = (name: string, version: number, from: Status, to: Status, now: number) =>
    changed(s.setStatus, [to, now, name, version, from], "change projection version status")
  return {
    list: (name) =>
      Effect.map(
        name === undefined
          ? query<VersionRow>(s.all, [], "read projection versions")
          : query<VersionRow>(s.of, [name], "read projection versions"),
        (rows) => rows.map(toVersion)
      ),
    begin: ({ name, status, subscription, version }, now) =>
      changed(s.begin, [name, version, subscription, status, now, now], "record projection version"),
    refuse: ({ name, subscription, version }, detail, now) =>
      Effect.asVoid(
        query(s.refuse, [name, version, subscription, detail, now, now], "record refused projection version")
      ),
    promote: (name, version, now) =>
      atomically(Effect.gen(function*() {
        // the serving version first: after this statement the new one is the only one serving
        const building = yield* query<VersionRow>(s.of, [name], "read projection versions").pipe(
          Effect.map((rows) => rows.some((r) => Dialect.readNumber(r.version) === version && r.status === "building"))
        )
        if (!building) return false
        yield* query(s.retireServing, [now, name], "retire serving projection version")
        return yield* setStatus(name, version, "building", "serving", now)
      })),
    retire: (name, version, now) => setStatus(name, version, "retiring", "retired", now),
    requestRebuild: (name, version, now) =>
      changed(s.requestRebuild, [now, name, version], "request projection rebuild"),
    startRebuild: (name, version, now) => changed(s.startRebuild, [now, name, version], "start projection rebuild")
  }
}
