/**
 * The versions of projections: per projection, which version serves reads, which one builds
 * beside it, which were switched away from (retiring, until their tables are dropped) or retired,
 * and which were refused (their source events were pruned). The relay records them as it
 * supervises projections; the application asks which version serves (`serving`), and the
 * `effect-ddd projections` commands list them and request rebuilds.
 *
 * Everything here joins the ambient transaction of `EventStore.withTransaction`, so a version's
 * record commits with its tables' creation (`init`) or removal (`drop`).
 *
 * @since 0.1.0
 * @module
 */
import { Context, Effect, Option, Schema } from "effect"
import type { EventStoreError } from "./EventStore.js"

/**
 * `building`: delivered from the start of the log beside the serving version; `serving`: the one
 * reads use; `retiring`: switched away from, its tables dropped once no process delivers it;
 * `retired`: dropped; `refused`: not built (see `detail`).
 *
 * @since 0.1.0
 * @category models
 */
export type Status = "building" | "serving" | "retiring" | "retired" | "refused"

/**
 * One version of a projection.
 *
 * @since 0.1.0
 * @category models
 */
export interface Version {
  /** The projection's name. */
  readonly name: string
  readonly version: number
  /** The subscription that delivers it: its checkpoints and leases are under this name. */
  readonly subscription: string
  readonly status: Status
  /** Why it was refused, or what last went wrong. */
  readonly detail: string | null
  /** A rebuild from the start was requested (`effect-ddd projections rebuild`) and is not done yet. */
  readonly rebuildRequested: boolean
  /** Epoch milliseconds. */
  readonly createdAt: number
  /** Epoch milliseconds: the last change of status. */
  readonly updatedAt: number
}

/**
 * A projection cannot be rebuilt from the start of the log: events it reads were pruned. Set
 * `fromEarliestKept: true` on the projection to build from what is kept instead.
 *
 * @since 0.1.0
 * @category errors
 */
export class ProjectionRebuildRefused extends Schema.TaggedError<ProjectionRebuildRefused>()(
  "ProjectionRebuildRefused",
  {
    name: Schema.String,
    version: Schema.Number,
    aggregateType: Schema.String,
    /** The last position pruned. */
    prunedThrough: Schema.Number
  }
) {
  override get message() {
    return `projection ${this.name} v${this.version} cannot be built from the start of the log: events of ` +
      `${this.aggregateType} up to position ${this.prunedThrough} were pruned (set fromEarliestKept: true ` +
      `to build it from the events kept)`
  }
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** The versions of a projection (of all of them without a name), by name and version. */
  readonly list: (name?: string) => Effect.Effect<ReadonlyArray<Version>, EventStoreError>
  /**
   * Record a version as `building` or `serving` unless it is recorded already (a `refused` one is
   * recorded again); true when this call recorded it, so whoever records it runs its `init`.
   */
  readonly begin: (
    version: Pick<Version, "name" | "version" | "subscription"> & { readonly status: "building" | "serving" },
    now: number
  ) => Effect.Effect<boolean, EventStoreError>
  /** Record a version as `refused`, with why. */
  readonly refuse: (
    version: Pick<Version, "name" | "version" | "subscription">,
    detail: string,
    now: number
  ) => Effect.Effect<void, EventStoreError>
  /**
   * Switch reads to a `building` version: it becomes `serving` and the version serving until then
   * `retiring`; true when this call switched (false when it was not building).
   */
  readonly promote: (name: string, version: number, now: number) => Effect.Effect<boolean, EventStoreError>
  /** Mark a `retiring` version `retired`; true when this call did (so it drops the tables). */
  readonly retire: (name: string, version: number, now: number) => Effect.Effect<boolean, EventStoreError>
  /** Request a rebuild of a version from the start; false when that version is not recorded. */
  readonly requestRebuild: (name: string, version: number, now: number) => Effect.Effect<boolean, EventStoreError>
  /** Clear a rebuild request; true when this call did (so it rebuilds). */
  readonly startRebuild: (name: string, version: number, now: number) => Effect.Effect<boolean, EventStoreError>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class ProjectionVersions extends Context.Tag("effect-ddd/ProjectionVersions")<ProjectionVersions, Service>() {}

/**
 * The version of a projection that serves reads (none before its first version is recorded):
 * the application reads the tables of that version.
 *
 * @example
 * {@includeCode ../../examples/projections.ts#serving}
 *
 * @since 0.1.0
 * @category combinators
 */
export const serving = (name: string): Effect.Effect<Option.Option<number>, EventStoreError, ProjectionVersions> =>
  Effect.flatMap(ProjectionVersions, (versions) =>
    Effect.map(
      versions.list(name),
      (all) => Option.map(Option.fromNullable(all.find((v) => v.status === "serving")), (v) => v.version)
    ))
