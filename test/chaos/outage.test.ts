/**
 * A database outage: the test's own PostgreSQL server is stopped for a few seconds under load
 * (`pg_ctl stop`, once `fast`, once `immediate`) and started again on the same data directory
 * and port. Meanwhile the example server answers 503 JSON (no crash, no other 5xx); it serves
 * again once the database is back without being restarted (how soon is printed, not judged: a
 * loaded machine is slow); and the ledger finds nothing lost, duplicated or stuck.
 */
import { describe, expect, it } from "@effect/vitest"
import { randomUUID } from "node:crypto"
import { type Postgres, startPostgres } from "../support/cluster.js"
import { startFleet } from "./fleet.js"
import { emptyJournal, type Journal } from "./journal.js"
import { quiet } from "./killRun.js"
import * as Ledger from "./ledger.js"
import * as Load from "./load.js"
import { full, seed, timeout } from "./size.js"

const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis))

interface Outage {
  readonly mode: "fast" | "immediate"
  /** Answers to the probe while the database was down, by status. */
  readonly whileDown: Record<string, number>
  /** Milliseconds from the database's return to the probe's first 200, if it came. */
  readonly recovery: number
  readonly recovered: boolean
}

/**
 * Stop the database for `downFor` ms, probing the server with a restock of `probe` every 200
 * ms (each journaled: a 503 may still have committed), then start it again and probe until a
 * restock succeeds (giving up after 5 minutes, a hang).
 */
const outage = async (
  cluster: Postgres,
  url: () => Promise<string>,
  journal: Journal,
  probe: string,
  mode: "fast" | "immediate",
  downFor: number
): Promise<Outage> => {
  const restock = async () => {
    const reply = await Load.send(await url(), "POST", `/inventory/${probe}/restock`, { quantity: 1 })
    const status = "status" in reply ? reply.status : reply.failed
    journal.restocks.push({ sku: probe, quantity: 1, outcome: status === 200 ? "accepted" : "unknown" })
    if (status !== 200 && !("status" in reply && reply.status === 503 && reply.body?.error === "ServiceUnavailable")) {
      journal.anomalies.push(`probe during a ${mode} outage: ${JSON.stringify(reply).slice(0, 300)}`)
    }
    return String(status)
  }
  const whileDown: Record<string, number> = {}
  await cluster.halt(mode)
  const until = Date.now() + downFor
  while (Date.now() < until) {
    const status = await restock()
    whileDown[status] = (whileDown[status] ?? 0) + 1
    await sleep(200)
  }
  await cluster.resume()
  const back = Date.now()
  let recovered = false
  while (!(recovered = (await restock()) === "200") && Date.now() - back < 300_000) await sleep(100)
  return { mode, whileDown, recovery: Date.now() - back, recovered }
}

describe("PostgreSQL stopped under load", () => {
  it("503 JSON while it is down, service again once it is back, nothing lost, duplicated or stuck", async () => {
    const cluster = await startPostgres()
    const fleet = await startFleet({ DATABASE_URL: cluster.url }, 1)
    const ledger = Ledger.open(Ledger.postgres(cluster.url))
    try {
      const started = Date.now()
      const journal = emptyJournal()
      const run = randomUUID().slice(0, 8)
      const skus = Array.from({ length: Load.SKUS }, (_, i) => `outage-${run}-${i}`)
      const commands = Load.workload(seed, full ? 3_000 : 400)
      let sent = 0
      const outages: Array<Outage> = []
      const load = Load.run({
        commands,
        skus,
        url: fleet.url,
        concurrency: 4,
        journal,
        sent: (count) => (sent = count)
      })
      for (const [at, mode] of [[0.2, "fast"], [0.6, "immediate"]] as const) {
        while (sent < commands.length * at) await sleep(10)
        outages.push(await outage(cluster, () => fleet.url(0), journal, `outage-${run}-probe`, mode, 4_000))
      }
      await load
      const stuck = await quiet(ledger, { idle: 30_000, limit: 600_000 })
      const codes = await fleet.stop()
      const report = await ledger.check(journal)
      console.log([
        `PostgreSQL outages: seed ${seed}, ${commands.length} commands, ${
          ((Date.now() - started) / 1000).toFixed(0)
        } s`,
        ...outages.map((o) =>
          `  ${o.mode}: answers while down ${
            JSON.stringify(o.whileDown)
          }, served again ${o.recovery} ms after the restart`
        ),
        `  503 answers to the load: ${
          JSON.stringify(journal.unavailable)
        }; orders ${journal.orders.length} (sent again ${
          journal.orders.filter((o) => o.attempts > 1).length
        }); anomalies ${journal.anomalies.length}`,
        `  events ${report.events}; orders ${JSON.stringify(report.orders)} ${JSON.stringify(report.reasons)}`,
        `  lost ${report.count.lost}, duplicated ${report.count.duplicated}, stuck ${report.count.stuck}, wrong ${report.count.wrong}`
      ].join("\n"))
      expect(stuck.slice(0, 20)).toEqual([])
      expect(report.problems.slice(0, 20)).toEqual([])
      expect(journal.anomalies.slice(0, 20)).toEqual([])
      expect(journal.cut).toBe(0)
      expect(fleet.crashes).toEqual([])
      expect(codes).toEqual([0])
      for (const o of outages) {
        expect(Object.keys(o.whileDown)).toEqual(["503"])
        expect(o.recovered).toBe(true)
      }
      expect(fleet.output()).not.toContain("request failed")
    } finally {
      await ledger.close()
      cluster.stop()
    }
  }, timeout)
})
