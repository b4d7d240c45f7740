/** Test helpers over the PostgreSQL server provided by `test/support/postgres.ts`. */
import { randomBytes } from "node:crypto"
import pg from "pg"
import { inject } from "vitest"

/**
 * The provided server's base (superuser, maintenance database) URL. Only the lanes that start the
 * server provide it (`postgres`, `chaos`): a test elsewhere that needs it fails, naming the fix.
 */
export const databaseUrl = (): string => {
  const url = inject("databaseUrl")
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
