/** Test helpers over the PostgreSQL server provided by `test/support/postgres.ts`. */
import { randomBytes } from "node:crypto"
import pg from "pg"
import { inject } from "vitest"

/**
 * The base (superuser, maintenance database) URL of this test worker's server: files running at
 * the same time use different servers (`VITEST_POOL_ID`, 1 to `maxWorkers`). Only the lanes that
 * start the servers provide them (`postgres`, `chaos`): a test elsewhere that needs one fails,
 * naming the fix.
 */
export const databaseUrl = (): string => {
  const urls = inject("databaseUrls")
  const worker = Number(process.env["VITEST_POOL_ID"] ?? "1")
  const url = urls === undefined || urls.length === 0 ? undefined : urls[(worker - 1) % urls.length]
  if (url === undefined) {
    throw new Error(
      "this test needs the PostgreSQL server, which only the postgres and chaos lanes start: move its file to test/postgres/"
    )
  }
  return url
}

/** Creates a new, uniquely named database and returns its URL. */
export const freshDatabase = async (name: string): Promise<string> => {
  const suffix = `_${randomBytes(6).toString("hex")}`
  let base = name.toLowerCase().replace(/[^a-z0-9_]+/g, "_")
  if (!/^[a-z]/.test(base)) base = `db_${base}`
  const database = base.slice(0, 63 - suffix.length) + suffix
  const client = new pg.Client({ connectionString: databaseUrl() })
  await client.connect()
  try {
    await client.query(`CREATE DATABASE "${database}"`)
  } finally {
    await client.end()
  }
  const url = new URL(databaseUrl())
  url.pathname = `/${database}`
  return url.toString()
}
