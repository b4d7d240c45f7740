/**
 * `effect-ddd prune [--dry-run]`: remove what the retention policy recorded in the database lets
 * go (the one the application's store layer was given, else the defaults), a batch at a time, and
 * report per table what went (or, with `--dry-run`, what would go) and what is held back.
 */
import { Clock, Effect, Option } from "effect"
import type { EventStoreError } from "../../ports/EventStore.js"
import { type Plan, Pruning, type Table, tables } from "../../ports/Pruning.js"
import type { Policy } from "../../ports/Retention.js"
import * as Pruner from "../../runtime/Pruner.js"
import { whileBusy } from "./CliError.js"
import * as Output from "./Output.js"

/** What `prune` reports (the same shape for `--dry-run`, whose `removed` is all zeros). */
export interface Pruned {
  readonly dryRun: boolean
  /** Rows removed per table (`--dry-run`: none). */
  readonly removed: Readonly<Record<Table, number>>
  /** Rows that may go now per table: before the run with `--dry-run`, what is left after it otherwise. */
  readonly removable: Readonly<Record<Table, number>>
  readonly heldBack: Plan["heldBack"]
  /** Epoch milliseconds; null when the log is empty. */
  readonly oldestEventKept: number | null
  readonly policy: Policy
}

const zero: Record<Table, number> = { events: 0, idempotency: 0, inbox: 0, processInstances: 0 }

export const prune = (
  dryRun: boolean,
  batchSize: number
): Effect.Effect<Pruned, EventStoreError, Pruning> =>
  Effect.gen(function*() {
    const policy = yield* (yield* Pruning).policy
    const { after, removed } = dryRun
      ? { removed: zero, after: yield* Pruner.plan }
      : yield* whileBusy(Pruner.run({ batchSize }))
    return {
      dryRun,
      removed,
      removable: after.removable,
      heldBack: after.heldBack,
      oldestEventKept: Option.getOrNull(after.oldestEventKept),
      policy
    }
  })

const names: Record<Table, string> = {
  events: "events",
  idempotency: "idempotency records",
  inbox: "inbox rows",
  processInstances: "process instances"
}

/** The report for people: a table per table, then what holds events back. */
export const render = (p: Pruned, now: number): string => {
  const rows = tables.map((t) =>
    p.dryRun ? [names[t], Output.count(p.removable[t])] : [names[t], Output.count(p.removed[t])]
  )
  const header = p.dryRun ? "dry run: nothing removed" : "pruned"
  const lines = [
    header,
    Output.table([{ header: "table" }, { header: p.dryRun ? "would remove" : "removed", numeric: true }], rows),
    `oldest event kept: ${p.oldestEventKept === null ? "none" : `${Output.duration(now - p.oldestEventKept)} old`}`
  ]
  if (p.policy.aggregates.length === 0 && p.policy.processManagers.length === 0) {
    lines.push("no aggregate's events may go: the policy names none (SqlEventStore.layer({ retention }))")
  }
  for (const h of p.heldBack) {
    lines.push(
      `held back: ${Output.count(h.events)} ${h.aggregateType} event(s) not yet delivered to ${h.subscription} ` +
        `(for ${Output.duration(now - h.since)})`
    )
  }
  return lines.join("\n")
}

export const renderNow = (p: Pruned) => Effect.map(Clock.currentTimeMillis, (now) => render(p, now))
