/**
 * Kill -9 on SQLite: one server process on a SQLite file, killed at random moments under load
 * and started again on the same file; nothing accepted is lost, nothing happens twice, nothing
 * is stuck (see `ledger.ts`).
 */
import { describe, expect, it } from "@effect/vitest"
import { join } from "node:path"
import { tempDataDir } from "../http-server/server.js"
import { startFleet } from "./fleet.js"
import { killRun, summary } from "./killRun.js"
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
      expect(run.report.problems.slice(0, 20)).toEqual([])
      expect(run.journal.anomalies.slice(0, 20)).toEqual([])
      expect(fleet.crashes).toEqual([])
      expect(run.kills).toBe(size.kills)
      expect(run.journal.orders.length).toBeGreaterThan(size.commands / 3)
      // the whole saga ran under the kills: reserve, charge, sell, confirm
      expect(run.report.orders.confirmed).toBeGreaterThan(run.journal.orders.length / 10)
      expect(fleet.output()).not.toContain("request failed")
    } finally {
      await ledger.close()
    }
  }, timeout)
})
