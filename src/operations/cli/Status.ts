/**
 * `effect-ddd status`: per subscription, where delivery stands (checkpoints), how far it lags
 * behind the log, how old its oldest undelivered event is, its dead letters and who holds its
 * partitions, judged against the `Health` module's default thresholds.
 */
import { Clock, Effect } from "effect"
import { Checkpoints } from "../../ports/Checkpoints.js"
import { DeadLetters } from "../../ports/DeadLetters.js"
import { EventStore, type EventStoreError, type LogCursor, logStart } from "../../ports/EventStore.js"
import { type SubscriptionInfo, SubscriptionRegistry } from "../../ports/SubscriptionRegistry.js"
import * as Health from "../Health.js"
import * as Output from "./Output.js"

/** One partition of a subscription. */
export interface PartitionStatus {
  readonly partition: number
  readonly checkpoint: LogCursor
  /** Events of the partition not delivered yet; null when the subscription was never recorded. */
  readonly lag: number | null
  /** `occurredAt` of the oldest of them (epoch milliseconds). */
  readonly oldestUndeliveredAt: number | null
  readonly lease: {
    readonly owner: string
    readonly token: number
    readonly expiresAt: number
    /** Held now (not expired nor released). */
    readonly live: boolean
  } | null
}

/** One subscription. */
export interface SubscriptionStatus {
  readonly name: string
  /** Recorded by a relay (what it reads is known, so is its lag). */
  readonly registered: boolean
  readonly kind: SubscriptionInfo["kind"] | null
  readonly registeredAt: number | null
  readonly lag: number | null
  readonly oldestUndeliveredAgeMillis: number | null
  readonly deadLetters: {
    readonly total: number
    readonly failed: number
    readonly poison: number
    readonly parked: number
    readonly redrive: number
  }
  readonly owners: ReadonlyArray<string>
  /** Against `Health.defaultThresholds`; null when the lag is unknown. */
  readonly health: { readonly status: Health.Status; readonly reasons: ReadonlyArray<string> } | null
  readonly partitions: ReadonlyArray<PartitionStatus>
}

/** The whole report. */
export interface Report {
  readonly checkedAt: number
  /** Events in the log. */
  readonly events: number
  readonly subscriptions: ReadonlyArray<SubscriptionStatus>
}

/** Measure every subscription recorded by a relay, or seen in leases and dead letters. */
export const report = (
  only?: string
): Effect.Effect<Report, EventStoreError, EventStore | Checkpoints | DeadLetters | SubscriptionRegistry> =>
  Effect.gen(function*() {
    const store = yield* EventStore
    const checkpoints = yield* Checkpoints
    const deadLetters = yield* DeadLetters
    const registry = yield* SubscriptionRegistry
    const now = yield* Clock.currentTimeMillis
    const events = (yield* store.backlog(logStart)).count
    const registered = yield* registry.list
    const leases = yield* checkpoints.leases()
    const letters = yield* deadLetters.list({})
    const names = new Set([
      ...registered.map((s) => s.name),
      ...leases.map((l) => l.subscription),
      ...letters.map((l) => l.subscription)
    ])
    const subscriptions = yield* Effect.forEach(
      [...names].filter((name) => only === undefined || name === only).sort(),
      (name) =>
        Effect.gen(function*() {
          const info = registered.find((s) => s.name === name)
          const mine = leases.filter((l) => l.subscription === name)
          const count = info?.partitions ?? Math.max(0, ...mine.map((l) => l.partition + 1))
          const partitions = yield* Effect.forEach(Array.from({ length: count }, (_, i) => i), (partition) =>
            Effect.gen(function*() {
              const checkpoint = yield* checkpoints.get(name, partition)
              const backlog = info === undefined ? undefined : yield* store.backlog(checkpoint, {
                sources: info.sources,
                partition: { count: info.partitions, index: partition }
              })
              const lease = mine.find((l) =>
                l.partition === partition
              )
              return {
                partition,
                checkpoint,
                lag: backlog?.count ?? null,
                oldestUndeliveredAt: backlog?.oldestOccurredAt ?? null,
                lease: lease === undefined ? null : {
                  owner: lease.owner,
                  token: lease.token,
                  expiresAt: lease.expiresAt,
                  live: lease.expiresAt > now
                }
              } satisfies PartitionStatus
            }))
          const dead = letters.filter((l) => l.subscription === name)
          const oldest = partitions.reduce<number | null>(
            (min, p) => (p.oldestUndeliveredAt !== null && (min === null || p.oldestUndeliveredAt < min)
              ? p.oldestUndeliveredAt
              : min),
            null
          )
          const lag = info === undefined ? null : partitions.reduce((sum, p) => sum + (p.lag ?? 0), 0)
          const oldestUndeliveredAgeMillis = info === undefined ? null : oldest === null ? 0 : Math.max(0, now - oldest)
          const judged = lag === null || oldestUndeliveredAgeMillis === null
            ? null
            : Health.evaluate(name, { lag, oldestUndeliveredAgeMillis, deadLetters: dead.length })
          return {
            name,
            registered: info !== undefined,
            kind: info?.kind ?? null,
            registeredAt: info?.registeredAt ?? null,
            lag,
            oldestUndeliveredAgeMillis,
            deadLetters: {
              total: dead.length,
              failed: dead.filter((l) => l.kind === "failed").length,
              poison: dead.filter((l) => l.kind === "poison").length,
              parked: dead.filter((l) => l.kind === "parked").length,
              redrive: dead.filter((l) => l.status === "redrive").length
            },
            owners: [...new Set(partitions.flatMap((p) => (p.lease?.live === true ? [p.lease.owner] : [])))].sort(),
            health: judged === null ? null : { status: judged.status, reasons: judged.reasons },
            partitions
          } satisfies SubscriptionStatus
        })
    )
    return { checkedAt: now, events, subscriptions }
  })

const unknown = "?"

/** The report as tables: one line per subscription, then one per partition. */
export const render = (report: Report): string => {
  if (report.subscriptions.length === 0) {
    return `${
      Output.count(report.events)
    } events in the log; no subscriptions yet (a relay records the ones it runs when it starts)`
  }
  const summary = Output.table(
    [
      { header: "SUBSCRIPTION" },
      { header: "KIND" },
      { header: "HEALTH" },
      { header: "LAG", numeric: true },
      { header: "OLDEST UNDELIVERED", numeric: true },
      { header: "DEAD LETTERS", numeric: true },
      { header: "PARTITIONS", numeric: true },
      { header: "OWNERS" }
    ],
    report.subscriptions.map((s) => {
      const held = s.partitions.filter((p) => p.lease?.live === true).length
      const dead = s.deadLetters
      return [
        s.name,
        s.kind ?? unknown,
        s.health?.status ?? unknown,
        s.lag === null ? unknown : Output.count(s.lag),
        s.oldestUndeliveredAgeMillis === null
          ? unknown
          : s.lag === 0
          ? "-"
          : Output.duration(s.oldestUndeliveredAgeMillis),
        dead.total === 0 ? "0" : `${dead.total}${dead.redrive > 0 ? ` (${dead.redrive} redrive)` : ""}`,
        `${held}/${s.partitions.length} leased`,
        s.owners.length === 0 ? "none (no relay running)" : s.owners.join(", ")
      ]
    })
  )
  const partitions = Output.table(
    [
      { header: "SUBSCRIPTION" },
      { header: "PARTITION", numeric: true },
      { header: "CHECKPOINT", numeric: true },
      { header: "LAG", numeric: true },
      { header: "OWNER" },
      { header: "TOKEN", numeric: true },
      { header: "LEASE" }
    ],
    report.subscriptions.flatMap((s) =>
      s.partitions.map((p) => [
        s.name,
        String(p.partition),
        String(p.checkpoint.position),
        p.lag === null ? unknown : Output.count(p.lag),
        p.lease?.owner ?? "-",
        p.lease === null ? "-" : String(p.lease.token),
        p.lease === null
          ? "never leased"
          : p.lease.live
          ? `expires in ${Output.duration(p.lease.expiresAt - report.checkedAt)}`
          : p.lease.expiresAt === 0
          ? "released"
          : `expired ${Output.duration(report.checkedAt - p.lease.expiresAt)} ago`
      ])
    )
  )
  const unregistered = report.subscriptions.filter((s) => !s.registered).map((s) => s.name)
  const reasons = report.subscriptions.flatMap((s) => (s.health?.reasons ?? []).map((reason) => `${s.name}: ${reason}`))
  return [
    `${Output.count(report.events)} events in the log, checked at ${Output.time(report.checkedAt)}`,
    "",
    summary,
    ...(reasons.length === 0 ? [] : ["", ...reasons]),
    "",
    partitions,
    ...(unregistered.length === 0 ? [] : [
      "",
      `? not recorded by a relay of this version yet, so what they read is unknown: ${unregistered.join(", ")}`
    ])
  ].join("\n")
}
