/**
 * Kill -9 on PostgreSQL: two server processes sharing one database, either killed at random
 * moments under load and started again; nothing accepted is lost, nothing happens twice, nothing
 * is stuck (see `ledger.ts`).
 */
import { describe, it } from "@effect/vitest"
import { freshDatabase } from "../support/database.js"
import { startFleet } from "./fleet.js"
import { expectClean, killRun, summary } from "./killRun.js"
import * as Ledger from "./ledger.js"
import { seed, size, timeout } from "./size.js"

describe("kill -9 on PostgreSQL", () => {
  it(
    `${size.commands} commands, ${size.kills} kills of either of two processes: nothing lost, duplicated or stuck`,
    async () => {
      const url = await freshDatabase("chaos_kill")
      const fleet = await startFleet({ DATABASE_URL: url }, 2)
      const ledger = Ledger.open(Ledger.postgres(url))
      try {
        const run = await killRun({ fleet, ledger, seed, commands: size.commands, kills: size.kills })
        console.log(summary("kill -9, PostgreSQL, 2 processes", run))
        expectClean(run, fleet, size.kills)
      } finally {
        await ledger.close()
      }
    },
    timeout
  )
})
