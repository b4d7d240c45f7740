/**
 * A kill run: the load over HTTP while servers are killed with SIGKILL at planned moments and
 * started again on the same database; then, once the system is quiet, the ledger check.
 */
import { expect } from "@effect/vitest"
import { randomUUID } from "node:crypto"
import type { Fleet } from "./fleet.js"
import { emptyJournal, type Journal } from "./journal.js"
import type { Ledger, Report } from "./ledger.js"
import * as Load from "./load.js"

export interface KillRun {
  readonly seed: number
  readonly commands: number
  readonly kills: number
  readonly journal: Journal
  readonly report: Report
  /** Seconds from the last command's answer until nothing was stuck (or the wait gave up). */
  readonly quietAfter: number
  readonly seconds: number
}

const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis))

/**
 * Poll until the ledger finds nothing stuck; the problems left. Slow is not stuck: the wait goes
 * on while the system makes progress (new events in the log, fewer problems), and gives up after
 * `idle` ms without any, or `limit` ms in all.
 */
export const quiet = async (ledger: Ledger, options: { readonly idle: number; readonly limit: number }) => {
  const deadline = Date.now() + options.limit
  let progressAt = Date.now()
  let last = { events: -1, stuck: Infinity }
  while (true) {
    const stuck = await ledger.stuck()
    if (stuck.length === 0 || Date.now() > deadline) return stuck
    const now = { events: ledger.events(), stuck: stuck.length }
    if (now.events > last.events || now.stuck < last.stuck) progressAt = Date.now()
    else if (Date.now() - progressAt > options.idle) return stuck
    last = now
    await sleep(500)
  }
}

export const killRun = async (options: {
  readonly fleet: Fleet
  readonly ledger: Ledger
  readonly seed: number
  readonly commands: number
  readonly kills: number
  readonly concurrency?: number
}): Promise<KillRun> => {
  const { fleet, ledger, seed } = options
  const started = Date.now()
  const journal = emptyJournal()
  const run = randomUUID().slice(0, 8)
  const skus = Array.from({ length: Load.SKUS }, (_, i) => `chaos-${run}-${i}`)
  const plan = Load.killPlan(seed, options.commands, options.kills, fleet.size)
  let sent = 0
  let kills = 0
  const clock = () => `${((Date.now() - started) / 1000).toFixed(1)} s`
  const killer = async () => {
    for (const kill of plan) {
      while (sent < kill.at) await sleep(5)
      await sleep(kill.delay)
      const killed = Date.now()
      await fleet.kill(kill.server)
      kills++
      console.log(
        `${clock()}: kill ${kills}/${plan.length}, server ${kill.server} at command ${sent}, up again after ${
          ((Date.now() - killed) / 1000).toFixed(1)
        } s`
      )
    }
  }
  await Promise.all([
    Load.run({
      commands: Load.workload(seed, options.commands),
      skus,
      url: fleet.url,
      concurrency: options.concurrency ?? 8,
      journal,
      sent: (count) => (sent = count)
    }),
    killer()
  ])
  const loaded = Date.now()
  console.log(`${clock()}: every command answered`)
  // the last kill's leases expire after 10 s (nothing moves on their partitions meanwhile); then the backlog
  const stuck = await quiet(ledger, { idle: 30_000, limit: 600_000 + options.commands * 120 })
  console.log(
    `${clock()}: ${stuck.length === 0 ? "quiet" : `still stuck: ${stuck.slice(0, 5).map((p) => p.detail).join("; ")}`}`
  )
  const quietAfter = (Date.now() - loaded) / 1000
  const codes = await fleet.stop()
  if (codes.some((code) => code !== 0)) journal.anomalies.push(`servers exited with ${codes.join(", ")} on SIGTERM`)
  const report = await ledger.check(journal)
  return {
    seed,
    commands: options.commands,
    kills,
    journal,
    report,
    quietAfter,
    seconds: (Date.now() - started) / 1000
  }
}

/** One line of figures for the logs (and the README). */
export const summary = (name: string, run: KillRun) => {
  const { journal, report } = run
  const count = <T extends { outcome: string }>(xs: ReadonlyArray<T>, outcome: string) =>
    xs.filter((x) => x.outcome === outcome).length
  return [
    `${name}: seed ${run.seed}, ${run.commands} commands, ${run.kills} kills, ${run.seconds.toFixed(0)} s`,
    `  restocks ${journal.restocks.length} (accepted ${count(journal.restocks, "accepted")}, unknown ${
      count(journal.restocks, "unknown")
    }); orders ${journal.orders.length} (sent again ${
      journal.orders.filter((o) => o.attempts > 1).length
    }); cancels ${journal.cancels.length} (accepted ${count(journal.cancels, "accepted")}, refused ${
      count(journal.cancels, "refused")
    }, unknown ${count(journal.cancels, "unknown")})`,
    `  requests cut ${journal.cut}, 503 answers ${
      journal.unavailable.restock + journal.unavailable.order + journal.unavailable.cancel
    }, anomalies ${journal.anomalies.length}`,
    `  events ${report.events}; orders confirmed ${report.orders.confirmed}, rejected ${report.orders.rejected} (${
      Object.entries(report.reasons).map(([reason, n]) => `${reason} ${n}`).join(", ")
    }), cancelled ${report.orders.cancelled}, pending ${report.orders.pending}`,
    `  lost ${report.count.lost}, duplicated ${report.count.duplicated}, stuck ${report.count.stuck}, wrong ${report.count.wrong}; quiet ${
      run.quietAfter.toFixed(1)
    } s after the last answer`
  ].join("\n")
}

/** What a kill run must show: nothing lost, duplicated or stuck, every kill made, the whole saga run. */
export const expectClean = (run: KillRun, fleet: Fleet, planned: number) => {
  expect(run.report.problems.slice(0, 20)).toEqual([])
  expect(run.journal.anomalies.slice(0, 20)).toEqual([])
  expect(fleet.crashes).toEqual([])
  expect(run.kills).toBe(planned)
  expect(run.journal.orders.length).toBeGreaterThan(run.commands / 3)
  // reserve, charge, sell and confirm ran under the kills
  expect(run.report.orders.confirmed).toBeGreaterThan(run.journal.orders.length / 10)
  expect(fleet.output()).not.toContain("request failed")
}
