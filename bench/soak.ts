/**
 * The pruning soak at size (`test/support/pruningSoak.ts`): `BENCH_SOAK_EVENTS` (1,000,000) restocks
 * of 1,000 SKUs through a state-stored aggregate in waves of 10,000, while a relay delivers them to
 * a ledger projection and the background pruner removes what was delivered; on SQLite (temp file,
 * WAL) and PostgreSQL. Prints the events table over time (rows after each wave, rows once the
 * pruner caught up, bytes on disk) and fails unless the ledger holds every event exactly once and
 * every idempotent repeat replays.
 *
 * - `soak.<db>.events`: events/s through the whole soak (commands, deliveries and pruning together).
 * - `soak.<db>.kept.max`: the most rows the events table held after a wave, against the events written.
 * - `soak.pg.bytes`: the events table's size at the end (`pg_total_relation_size`), against its size
 *   after the first wave. On SQLite the table prints the whole file, which also holds the soak's
 *   own ledger (a row per event): it grows with the ledger, while the events table's pages are
 *   freed and reused; `rows kept` is the bound there.
 *
 * Only run when named: `npm run bench -- soak` (or `soak.sqlite`, `soak.pg`).
 */
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { SqliteClient } from "@effect/sql-sqlite-node"
import type { Layer } from "effect"
import { Effect, Redacted } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Soak from "../test/support/pruningSoak.js"
import { type Figure, figure } from "./report.js"

const EVENTS = Number(process.env["BENCH_SOAK_EVENTS"] ?? 1_000_000)
const SKUS = 1_000
const PER_WAVE = 10
const WAVES = Math.max(1, Math.round(EVENTS / (SKUS * PER_WAVE)))

const log = (line: string) => console.error(`  ${line}`)

const soak = <E>(
  db: string,
  client: Layer.Layer<SqlClient.SqlClient, E>,
  bytes: Effect.Effect<number, unknown, SqlClient.SqlClient>,
  bytesFigure: boolean
) =>
  Effect.gen(function*() {
    log(`soak.${db}: ${SKUS * PER_WAVE * WAVES} events in ${WAVES} waves of ${SKUS * PER_WAVE}`)
    log(`  wave    events  rows after wave  rows kept  ${db === "pg" ? "table bytes" : " file bytes"}  seconds`)
    const every = Math.max(1, Math.floor(WAVES / 10))
    const outcome = yield* Soak.run({
      skus: SKUS,
      perWave: PER_WAVE,
      waves: WAVES,
      onWave: (s) =>
        s.wave === 1 || s.wave % every === 0
          ? Effect.sync(() =>
            log(
              `  ${String(s.wave).padStart(4)}  ${String(s.events).padStart(8)}  ${String(s.keptPeak).padStart(15)}  ${
                String(s.kept).padStart(9)
              }  ${String(s.bytes).padStart(11)}  ${s.seconds.toFixed(1).padStart(7)}`
            )
          )
          : Effect.void
    }, bytes)
    const { ledger, samples } = outcome
    if (ledger.rows !== outcome.events || ledger.distinct !== outcome.events || ledger.completeSkus !== SKUS) {
      return yield* Effect.die(new Error(`soak.${db}: ledger ${JSON.stringify(ledger)} for ${outcome.events} events`))
    }
    if (outcome.replayed !== outcome.keyed) {
      return yield* Effect.die(
        new Error(`soak.${db}: ${outcome.replayed} of ${outcome.keyed} idempotent repeats replayed`)
      )
    }
    log(
      `soak.${db}: ledger complete (${ledger.rows} rows, each event once); ${outcome.replayed} idempotent repeats replayed`
    )
    const last = samples[samples.length - 1]!
    return [
      figure(`soak.${db}.events`, outcome.events / last.seconds, "events/s", null),
      figure(`soak.${db}.kept.max`, Math.max(...samples.map((s) => s.keptPeak)), "rows", outcome.events, "bounded"),
      ...(bytesFigure
        ? [figure(`soak.${db}.bytes`, last.bytes / 1e6, "MB", samples[0]!.bytes / 1e6, "flat after the first wave")]
        : [])
    ]
  }).pipe(Effect.provide(Soak.layer(client)))

export const runSqlite = async (): Promise<ReadonlyArray<Figure>> => {
  const dir = mkdtempSync(join(tmpdir(), "effect-ddd-bench-soak-"))
  try {
    const bytes = Effect.flatMap(SqlClient.SqlClient, (sql) =>
      Effect.map(
        sql<{ bytes: number }>`SELECT page_count * page_size AS bytes FROM pragma_page_count(), pragma_page_size()`,
        (rows) => Number(rows[0]!.bytes)
      ))
    return await Effect.runPromise(soak("sqlite", SqliteClient.layer({ filename: join(dir, "soak.db") }), bytes, false))
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

export const runPg = (freshDatabase: () => Promise<string>) => async (): Promise<ReadonlyArray<Figure>> => {
  const url = await freshDatabase()
  const bytes = Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.map(
      sql<{ bytes: string }>`SELECT pg_total_relation_size('effect_ddd_events') AS bytes`,
      (rows) => Number(rows[0]!.bytes)
    ))
  return await Effect.runPromise(
    soak("pg", PgClient.layer({ url: Redacted.make(url), maxConnections: 10 }), bytes, true)
  )
}
