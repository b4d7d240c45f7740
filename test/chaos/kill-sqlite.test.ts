/**
 * Kill -9 on SQLite: one server process on a SQLite file, killed at random moments under load
 * and started again on the same file; nothing accepted is lost, nothing happens twice, nothing
 * is stuck (see `ledger.ts`).
 */
import { describe, it } from "@effect/vitest"
import { join } from "node:path"
import { tempDataDir } from "../support/server.js"
import { startFleet } from "./fleet.js"
import { expectClean, killRun, summary } from "./killRun.js"
import * as Ledger from "./ledger.js"
import { seed, size, timeout } from "./size.js"

describe("kill -9 on SQLite", () => {
  it(`${size.commands} commands, ${size.kills} kills: nothing lost, duplicated or stuck`, async () => {
    const dataDir = tempDataDir()
    const fleet = await startFleet({ DATA_DIR: dataDir }, 1)
    const ledger = Ledger.open(Ledger.sqlite(join(dataDir, "app.db")))
    try {
      const run = await killRun({ fleet, ledger, seed, commands: size.commands, kills: size.kills })
      console.log(summary("kill -9, SQLite", run))
      expectClean(run, fleet, size.kills)
    } finally {
      await ledger.close()
    }
  }, timeout)
})
