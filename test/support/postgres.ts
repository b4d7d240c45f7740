/**
 * Vitest globalSetup of the lanes that need PostgreSQL (`postgres` and `chaos` in
 * vitest.config.ts): provides a server to their tests via `inject("databaseUrl")`. The other
 * lanes never start one.
 *
 * - `DATABASE_URL` set: used as-is.
 * - Otherwise throwaway clusters are started with `startPostgres()` (see `./cluster.ts`: a fresh
 *   temp dir, 127.0.0.1 on a free port, destroyed on teardown / process exit / SIGINT / SIGTERM),
 *   one per test worker (`maxWorkers`): the test files running at the same time each have a server
 *   of their own, so one file's long transactions never hold back the safe horizon of another's
 *   relay (`databaseUrl()` picks the worker's). The clusters serve every lane of the run: the first
 *   lane's setup starts them, the last lane's teardown stops them.
 * - No server available: throws, so PostgreSQL tests never skip silently.
 *
 * `EFFECT_DDD_PG_BIN_DIR=/some/dir` (testing aid): look for initdb/pg_ctl/postgres
 * only in that directory instead of PATH and /usr/lib/postgresql/{version}/bin.
 */
import type { TestProject } from "vitest/node"
import { fixHint, type Postgres, PostgresUnavailable, redact, startPostgres } from "./cluster.js"

declare module "vitest" {
  export interface ProvidedContext {
    /** Superuser URLs of the servers under test (maintenance database `postgres`), one per worker. */
    databaseUrls: ReadonlyArray<string>
    /** `true` when this run started its own cluster (DATABASE_URL was not set). */
    postgresStarted: boolean
  }
}

const fail = (reason: string): Error => new Error(`PostgreSQL is required by the test suite but ${reason}.\n${fixHint}`)

/**
 * The run's cluster, shared by the lanes' setups. Each project loads this file on its own, so the
 * cluster is kept on the global object of the vitest process, not in a module variable.
 */
interface Shared {
  clusters: Promise<ReadonlyArray<Postgres>>
  users: number
}
const key = Symbol.for("effect-ddd/test/postgres")
const registry = globalThis as { [key]?: Shared }

const start = (): Promise<Postgres> =>
  startPostgres().then(
    (postgres) => {
      process.stderr.write(
        `[postgres] started throwaway cluster: ${postgres.version} on ${postgres.url} (data in ${postgres.dir})\n`
      )
      return postgres
    },
    (error: unknown) => {
      if (!(error instanceof PostgresUnavailable)) throw error
      throw fail(error.kind === "binaries-not-found" ? `DATABASE_URL is not set and ${error.reason}` : error.reason)
    }
  )

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const fromEnv = process.env["DATABASE_URL"]
  if (fromEnv !== undefined && fromEnv !== "") {
    process.stderr.write(`[postgres] ${project.name}: using DATABASE_URL from environment: ${redact(fromEnv)}\n`)
    project.provide("databaseUrls", [fromEnv])
    project.provide("postgresStarted", false)
    return async () => {}
  }

  const count = Math.max(1, project.globalConfig.maxWorkers)
  const shared = registry[key] ??= {
    // started together; if one fails, the others are stopped before the error is reported
    clusters: Promise.allSettled(Array.from({ length: count }, start)).then((results) => {
      const failed = results.find((result) => result.status === "rejected")
      if (failed === undefined) return results.map((result) => (result as PromiseFulfilledResult<Postgres>).value)
      for (const result of results) if (result.status === "fulfilled") result.value.stop()
      throw failed.reason
    }),
    users: 0
  }
  shared.users++
  let released = false
  const release = async () => {
    if (released) return
    released = true
    if (--shared.users > 0) return
    delete registry[key]
    for (const postgres of (await shared.clusters.catch(() => [])) as ReadonlyArray<Postgres>) postgres.stop()
  }
  const clusters = await shared.clusters.catch(async (error: unknown) => {
    await release()
    throw error
  })
  project.provide("databaseUrls", clusters.map((postgres) => postgres.url))
  project.provide("postgresStarted", true)
  return release
}
