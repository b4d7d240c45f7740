/**
 * Vitest globalSetup: provides a PostgreSQL server to every test via
 * `inject("databaseUrl")`.
 *
 * - `DATABASE_URL` set: used as-is.
 * - Otherwise a throwaway cluster is started with `startPostgres()` (see `./cluster.ts`: a fresh
 *   temp dir, 127.0.0.1 on a free port, destroyed on teardown / process exit / SIGINT / SIGTERM).
 * - No server available: throws, so PostgreSQL tests never skip silently.
 *
 * `EFFECT_DDD_PG_BIN_DIR=/some/dir` (testing aid): look for initdb/pg_ctl/postgres
 * only in that directory instead of PATH and /usr/lib/postgresql/{version}/bin.
 */
import type { TestProject } from "vitest/node"
import { fixHint, PostgresUnavailable, redact, startPostgres } from "./cluster.js"

declare module "vitest" {
  export interface ProvidedContext {
    /** Superuser URL of the server under test (maintenance database `postgres`). */
    databaseUrl: string
    /** `true` when this run started its own cluster (DATABASE_URL was not set). */
    postgresStarted: boolean
  }
}

const fail = (reason: string): Error => new Error(`PostgreSQL is required by the test suite but ${reason}.\n${fixHint}`)

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const fromEnv = process.env["DATABASE_URL"]
  if (fromEnv !== undefined && fromEnv !== "") {
    process.stderr.write(`[postgres] using DATABASE_URL from environment: ${redact(fromEnv)}\n`)
    project.provide("databaseUrl", fromEnv)
    project.provide("postgresStarted", false)
    return async () => {}
  }

  const postgres = await startPostgres().catch((error: unknown) => {
    if (!(error instanceof PostgresUnavailable)) throw error
    throw fail(error.kind === "binaries-not-found" ? `DATABASE_URL is not set and ${error.reason}` : error.reason)
  })
  process.stderr.write(
    `[postgres] started throwaway cluster: ${postgres.version} on ${postgres.url} (data in ${postgres.dir})\n`
  )
  project.provide("databaseUrl", postgres.url)
  project.provide("postgresStarted", true)

  return async () => postgres.stop()
}
