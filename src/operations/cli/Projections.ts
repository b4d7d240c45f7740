/**
 * `effect-ddd projections list | status | rebuild`: projections' versions (which serves reads,
 * which builds beside it), how far each has got through the log and how far it lags, and requests
 * to rebuild a version from the start (carried out by a running relay, which owns the projection's
 * `init` and `drop`).
 */
import { Clock, Effect } from "effect"
import type { Checkpoints } from "../../ports/Checkpoints.js"
import type { DeadLetters } from "../../ports/DeadLetters.js"
import { EventStore, type EventStoreError, logStart } from "../../ports/EventStore.js"
import { ProjectionVersions, type Status, type Version } from "../../ports/ProjectionVersions.js"
import { Pruning } from "../../ports/Pruning.js"
import { SubscriptionRegistry } from "../../ports/SubscriptionRegistry.js"
import { CliError } from "./CliError.js"
import * as Output from "./Output.js"
import * as SubscriptionStatus from "./Status.js"

/** One projection: the version serving reads, the one building, and all of them. */
export interface ProjectionSummary {
  readonly name: string
  readonly serving: number | null
  readonly building: number | null
  readonly versions: ReadonlyArray<Version>
}

/** Every projection's versions, by name. */
export const list = (
  only?: string
): Effect.Effect<ReadonlyArray<ProjectionSummary>, EventStoreError | CliError, ProjectionVersions> =>
  Effect.gen(function*() {
    const versions = yield* (yield* ProjectionVersions).list(only)
    if (only !== undefined && versions.length === 0) return yield* new CliError({ message: `no projection ${only}` })
    const names = [...new Set(versions.map((v) => v.name))]
    return names.map((name) => {
      const mine = versions.filter((v) => v.name === name)
      return {
        name,
        serving: mine.find((v) => v.status === "serving")?.version ?? null,
        building: mine.find((v) => v.status === "building")?.version ?? null,
        versions: mine
      }
    })
  })

/** How far one version has got. */
export interface VersionProgress {
  readonly name: string
  readonly version: number
  readonly status: Status
  readonly subscription: string
  readonly rebuildRequested: boolean
  readonly detail: string | null
  /** Events of the log it reads; null when no relay recorded what it reads. */
  readonly events: number | null
  /** Of those, delivered to it. */
  readonly delivered: number | null
  /** Not delivered yet. */
  readonly lag: number | null
  /** The lowest checkpoint position of its partitions. */
  readonly position: number
  readonly oldestUndeliveredAgeMillis: number | null
  readonly deadLetters: number
  readonly owners: ReadonlyArray<string>
}

/** The progress and lag of the versions still in use (building, serving, retiring, refused). */
export const status = (
  only?: string
): Effect.Effect<
  { readonly checkedAt: number; readonly versions: ReadonlyArray<VersionProgress> },
  EventStoreError | CliError,
  ProjectionVersions | EventStore | Checkpoints | DeadLetters | SubscriptionRegistry
> =>
  Effect.gen(function*() {
    const checkedAt = yield* Clock.currentTimeMillis
    const store = yield* EventStore
    const registered = yield* (yield* SubscriptionRegistry).list
    const summaries = yield* list(only)
    const versions = summaries.flatMap((s) => s.versions).filter((v) => v.status !== "retired")
    const progress = yield* Effect.forEach(versions, (v) =>
      Effect.gen(function*() {
        const info = registered.find((s) => s.name === v.subscription)
        const report = yield* SubscriptionStatus.report(v.subscription)
        const measured = report.subscriptions[0]
        const events = info === undefined ? null : (yield* store.backlog(logStart, { sources: info.sources })).count
        const lag = measured?.lag ?? null
        const positions = (measured?.partitions ?? []).map((p) => p.checkpoint.position)
        return {
          name: v.name,
          version: v.version,
          status: v.status,
          subscription: v.subscription,
          rebuildRequested: v.rebuildRequested,
          detail: v.detail,
          events,
          delivered: events === null || lag === null ? null : Math.max(0, events - lag),
          lag,
          position: positions.length === 0 ? 0 : Math.min(...positions),
          oldestUndeliveredAgeMillis: measured?.oldestUndeliveredAgeMillis ?? null,
          deadLetters: measured?.deadLetters.total ?? 0,
          owners: measured?.owners ?? []
        } satisfies VersionProgress
      }))
    return { checkedAt, versions: progress }
  })

/** What a rebuild request did. */
export interface RebuildRequested {
  readonly name: string
  readonly version: number
  readonly status: Status
}

/**
 * Request a rebuild of a projection's newest version in use (the building one, else the serving
 * one); refused when events it reads were pruned, unless `fromEarliestKept`.
 */
export const rebuild = (
  name: string,
  fromEarliestKept: boolean
): Effect.Effect<RebuildRequested, EventStoreError | CliError, ProjectionVersions | Pruning | SubscriptionRegistry> =>
  Effect.gen(function*() {
    const projections = yield* ProjectionVersions
    const versions = yield* projections.list(name)
    if (versions.length === 0) return yield* new CliError({ message: `no projection ${name}` })
    const target = versions.find((v) => v.status === "building") ?? versions.find((v) => v.status === "serving")
    if (target === undefined) {
      return yield* new CliError({ message: `projection ${name} has no version building or serving` })
    }
    if (!fromEarliestKept) {
      const info = (yield* (yield* SubscriptionRegistry).list).find((s) => s.name === target.subscription)
      const marks = yield* (yield* Pruning).prunedThrough
      for (const source of info?.sources ?? []) {
        const mark = marks.get(source.aggregateType)
        if (mark !== undefined) {
          return yield* new CliError({
            message: `projection ${name} v${target.version} cannot be rebuilt from the start of the log: events of ` +
              `${source.aggregateType} up to position ${mark.position} were pruned (a projection declared with ` +
              `fromEarliestKept: true builds from the events kept: pass --from-earliest-kept to request that)`
          })
        }
      }
    }
    const now = yield* Clock.currentTimeMillis
    if (!(yield* projections.requestRebuild(name, target.version, now))) {
      return yield* new CliError({ message: `projection ${name} v${target.version} changed meanwhile: try again` })
    }
    return { name, version: target.version, status: target.status }
  })

/** `projections list` as a table. */
export const renderList = (projections: ReadonlyArray<ProjectionSummary>): string =>
  projections.length === 0
    ? "no projections recorded (a relay records them when it starts)"
    : Output.table(
      [{ header: "PROJECTION" }, { header: "SERVING", numeric: true }, { header: "BUILDING", numeric: true }, {
        header: "VERSIONS"
      }],
      projections.map((p) => [
        p.name,
        p.serving === null ? "-" : `v${p.serving}`,
        p.building === null ? "-" : `v${p.building}`,
        p.versions.map((v) => `v${v.version} ${v.status}${v.rebuildRequested ? " (rebuild requested)" : ""}`).join(
          ", "
        )
      ])
    )

/** `projections status` as a table, with why a version was refused. */
export const renderStatus = (
  result: { readonly versions: ReadonlyArray<VersionProgress> }
): string => {
  if (result.versions.length === 0) return "no projection versions in use"
  const table = Output.table(
    [
      { header: "PROJECTION" },
      { header: "VERSION", numeric: true },
      { header: "STATUS" },
      { header: "PROGRESS", numeric: true },
      { header: "LAG", numeric: true },
      { header: "POSITION", numeric: true },
      { header: "OLDEST UNDELIVERED", numeric: true },
      { header: "DEAD LETTERS", numeric: true },
      { header: "OWNERS" }
    ],
    result.versions.map((v) => [
      v.name,
      `v${v.version}`,
      `${v.status}${v.rebuildRequested ? " (rebuild requested)" : ""}`,
      v.events === null || v.delivered === null
        ? "?"
        : `${Output.count(v.delivered)}/${Output.count(v.events)}${
          v.events === 0 ? "" : ` (${Math.floor((v.delivered / v.events) * 100)}%)`
        }`,
      v.lag === null ? "?" : Output.count(v.lag),
      Output.count(v.position),
      v.oldestUndeliveredAgeMillis === null ? "?" : Output.duration(v.oldestUndeliveredAgeMillis),
      Output.count(v.deadLetters),
      v.owners.join(", ") || "-"
    ])
  )
  const notes = result.versions.filter((v) => v.detail !== null).map((v) => `${v.name} v${v.version}: ${v.detail}`)
  return notes.length === 0 ? table : `${table}\n\n${notes.join("\n")}`
}

/** `projections rebuild` in words. */
export const renderRebuild = (r: RebuildRequested): string =>
  `rebuild of ${r.name} v${r.version} (${r.status}) requested: a running relay drops and re-creates its tables ` +
  `and delivers it again from the start (follow it with: effect-ddd projections status ${r.name})`
