/**
 * `npm run bench [-- name...]`: runs the benchmarks (all, or those whose name starts with one of
 * the arguments), prints a table and merges the figures into bench/results/latest.json.
 *
 * PostgreSQL groups use `DATABASE_URL` when set, otherwise a throwaway cluster started on first
 * use (`test/support/cluster.ts`, the test suite's settings: fsync on) and stopped at the end.
 * Each measurement gets a fresh database (`bench_<random>`).
 */
import { randomBytes } from "node:crypto"
import pg from "pg"
import { type Postgres, redact, startPostgres } from "../test/support/cluster.js"
import * as broker from "./broker.js"
import * as command from "./command.js"
import * as core from "./core.js"
import * as http from "./http.js"
import * as prune from "./prune.js"
import * as relay from "./relay.js"
import { type Figure, printTable, save } from "./report.js"
import * as soak from "./soak.js"

/** The PostgreSQL server: started (or taken from DATABASE_URL) on the first call only. */
const server = (() => {
  let cluster: Postgres | undefined
  let url: Promise<string> | undefined
  const created: Array<string> = []

  const describe = async (base: string, how: string) => {
    const client = new pg.Client({ connectionString: base })
    await client.connect()
    try {
      const { rows } = await client.query<{ version: string; fsync: string; sync: string }>(
        "SELECT current_setting('server_version') AS version, current_setting('fsync') AS fsync, " +
          "current_setting('synchronous_commit') AS sync"
      )
      const row = rows[0]!
      console.error(
        `[bench] PostgreSQL: ${how} ${
          redact(base)
        } (server ${row.version}, fsync=${row.fsync}, synchronous_commit=${row.sync})`
      )
    } finally {
      await client.end()
    }
  }

  const start = async (): Promise<string> => {
    const fromEnv = process.env["DATABASE_URL"]
    if (fromEnv !== undefined && fromEnv !== "") {
      await describe(fromEnv, "using DATABASE_URL")
      return fromEnv
    }
    console.error("[bench] DATABASE_URL is not set: starting a throwaway PostgreSQL cluster...")
    cluster = await startPostgres()
    await describe(cluster.url, `started throwaway cluster (${cluster.version}, data in ${cluster.dir}) on`)
    return cluster.url
  }

  /** The URL of a new, empty database. */
  const freshDatabase = async (): Promise<string> => {
    url ??= start()
    const base = await url
    const name = `bench_${randomBytes(6).toString("hex")}`
    const client = new pg.Client({ connectionString: base })
    await client.connect()
    try {
      await client.query(`CREATE DATABASE ${name}`)
      created.push(name)
    } finally {
      await client.end()
    }
    const fresh = new URL(base)
    fresh.pathname = `/${name}`
    return fresh.toString()
  }

  /** Stops our cluster, or drops the databases we created on someone else's server. */
  const close = async () => {
    if (cluster !== undefined) {
      cluster.stop()
      console.error("[bench] throwaway PostgreSQL cluster stopped")
      return
    }
    if (url === undefined || created.length === 0) return
    const base = await url.catch(() => undefined)
    if (base === undefined) return
    const client = new pg.Client({ connectionString: base })
    try {
      await client.connect()
      for (const name of created.splice(0)) await client.query(`DROP DATABASE IF EXISTS ${name}`)
    } catch (error) {
      console.error(`[bench] could not drop the bench_* databases on ${redact(base)}: ${String(error)}`)
    } finally {
      await client.end().catch(() => {})
    }
  }

  return { freshDatabase, close }
})()

const suites: ReadonlyArray<
  readonly [
    string,
    () => Promise<ReadonlyArray<Figure>> | ReadonlyArray<Figure>,
    { readonly explicit?: boolean }?
  ]
> = [
  ["core", core.run],
  ["command.sqlite", command.runSqlite],
  ["command.pg", command.runPg(server.freshDatabase)],
  ["relay.sqlite", relay.runSqlite],
  ["relay.pg", relay.runPg(server.freshDatabase)],
  ["latency", relay.runLatency(server.freshDatabase)],
  // 1,000,000 events by default; BENCH_DRAIN_EVENTS scales it down
  ["relay.sqlite.drain1m", relay.runDrain],
  ["http.settle.sqlite", http.runSqlite],
  ["http.settle.pg", http.runPg(server.freshDatabase)],
  ["http.load.sqlite", http.runLoadSqlite],
  ["http.load.pg", http.runLoadPg(server.freshDatabase)],
  ["broker.publish.nats", broker.runPublish],
  ["broker.consume.nats", broker.runConsume],
  ["broker.latency", broker.runLatency],
  ["prune.sqlite", prune.runSqlite],
  // 1,000,000 events each: only when named (`npm run bench -- soak`)
  ["soak.sqlite", soak.runSqlite, { explicit: true }],
  ["soak.pg", soak.runPg(server.freshDatabase), { explicit: true }]
]

const filters = process.argv.slice(2)
// a group runs when its name starts with a filter ("command" runs both command groups) or a filter
// starts with its name ("command.pg.c8" runs command.pg); only figures matching a filter are kept
const selected = suites.filter(([name, , options]) =>
  filters.length === 0
    ? options?.explicit !== true
    : filters.some((f) => name.startsWith(f) || f.startsWith(name))
)
if (selected.length === 0) {
  console.error(`no benchmark matches ${filters.join(", ")}; groups: ${suites.map(([name]) => name).join(", ")}`)
  process.exit(2)
}
const wanted = (f: Figure) => filters.length === 0 || filters.some((prefix) => f.name.startsWith(prefix))

const figures: Array<Figure> = []
const failures: Array<string> = []
try {
  for (const [name, run] of selected) {
    console.error(`running ${name}...`)
    try {
      figures.push(...(await run()).filter(wanted))
    } catch (error) {
      console.error(`${name} failed:`, error)
      failures.push(name)
    }
  }
} finally {
  await server.close()
}
printTable(figures)
save(figures)
if (failures.length > 0) {
  console.error(`failed: ${failures.join(", ")}`)
  process.exitCode = 1
}
