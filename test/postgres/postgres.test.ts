import pg from "pg"
import { describe, expect, inject, it } from "vitest"
import { freshDatabase } from "../support/database.js"

describe("PostgreSQL test harness", () => {
  it("provides a fresh database on a reachable server", async () => {
    const url = await freshDatabase("harness")
    const client = new pg.Client({ connectionString: url })
    await client.connect()
    try {
      const version = await client.query<{ version: string }>("select version()")
      expect(version.rows[0]?.version).toContain("PostgreSQL")
      const current = await client.query<{ db: string }>("select current_database() as db")
      expect(current.rows[0]?.db).toMatch(/^harness_[0-9a-f]{12}$/)
      if (inject("postgresStarted")) {
        const listen = await client.query<{ listen_addresses: string }>("SHOW listen_addresses")
        expect(listen.rows[0]?.listen_addresses).toBe("127.0.0.1")
      }
    } finally {
      await client.end()
    }
  })
})
