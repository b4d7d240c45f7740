/**
 * Runs pruning (`Pruning`): once (`run`, what `effect-ddd prune` does), or in the background under
 * a `Schedule` (`layer`). Each table is pruned a batch at a time, each batch one short
 * transaction, with a pause between batches that grows with the time the batch took, so pruning
 * never holds long locks or starves commands.
 *
 * ```ts
 * const PrunerLive = Pruner.layer({ schedule: Schedule.spaced("10 minutes") })
 * ```
 *
 * @since 0.1.0
 * @module
 */
import { Clock, Duration, Effect, Layer, MetricLabel, Option, Schedule } from "effect"
import * as Telemetry from "../operations/Telemetry.js"
import type { EventStoreError } from "../ports/EventStore.js"
import { type Plan, Pruning, type Table, tables } from "../ports/Pruning.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Rows per batch (default 500). */
  readonly batchSize?: number | undefined
  /** The least pause between two batches of a table (default 50 milliseconds). */
  readonly pause?: Duration.DurationInput | undefined
  /**
   * The largest share of the time a run may spend inside its batches, above 0 and at most 1
   * (default 0.05). After a batch that took `t`, the run waits `t * (1 - share) / share` (and at
   * least `pause`), so a slow database, where each batch holds its locks longer, gets longer
   * pauses: on SQLite, whose one writer commands wait for, pruning takes at most about this
   * share of the writer's time. `1` leaves only `pause`.
   */
  readonly share?: number | undefined
}

/**
 * What a run removed, per table, and what it left because a subscription has not delivered it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Report {
  readonly removed: Readonly<Record<Table, number>>
  /** What remains: held back, and the oldest event kept. */
  readonly after: Plan
}

const none: Record<Table, number> = { events: 0, idempotency: 0, inbox: 0, processInstances: 0 }

/**
 * What a run would remove now, without removing anything (`effect-ddd prune --dry-run`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const plan: Effect.Effect<Plan, EventStoreError, Pruning> = Effect.flatMap(
  Pruning,
  (pruning) => Effect.flatMap(Clock.currentTimeMillis, pruning.plan)
)

const observe = (after: Plan, now: number) =>
  Effect.sync(() =>
    Telemetry.oldestEventAge.unsafeUpdate(
      Option.match(after.oldestEventKept, { onNone: () => 0, onSome: (at) => Math.max(0, now - at) / 1000 }),
      []
    )
  )

/**
 * Prune every table until nothing more may go, a batch at a time with a pause between batches;
 * counts rows removed per table (metric `effect_ddd_pruned_rows_total`) and refreshes the age of
 * the oldest event kept (`effect_ddd_oldest_event_age_seconds`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const run = (options: Options = {}): Effect.Effect<Report, EventStoreError, Pruning> =>
  Effect.gen(function*() {
    const pruning = yield* Pruning
    const batchSize = Math.max(1, options.batchSize ?? 500)
    const pause = Duration.decode(options.pause ?? Duration.millis(50))
    const share = Math.min(1, Math.max(0.001, options.share ?? 0.05))
    const now = yield* Clock.currentTimeMillis
    const removed = { ...none }
    for (const table of tables) {
      while (true) {
        const [took, n] = yield* Effect.timed(pruning.pruneBatch(table, now, batchSize))
        removed[table] += n
        if (n > 0) Telemetry.prunedRows.unsafeUpdate(n, [MetricLabel.make("table", table)])
        if (n < batchSize) break
        const wait = Duration.max(pause, Duration.times(took, (1 - share) / share))
        if (Duration.greaterThan(wait, Duration.zero)) yield* Effect.sleep(wait)
      }
    }
    const after = yield* pruning.plan(now)
    yield* observe(after, now)
    return { removed, after }
  }).pipe(Effect.withSpan("effect_ddd.prune"))

/**
 * Prune in the background while the layer is up: a run at start, then as `schedule` says
 * (default every 10 minutes). A failed run is logged and the next one goes ahead.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options & { readonly schedule?: Schedule.Schedule<unknown> | undefined } = {}
): Layer.Layer<never, never, Pruning> =>
  Layer.scopedDiscard(
    run(options).pipe(
      Effect.tap((report) =>
        Effect.logDebug(`pruned ${Object.entries(report.removed).map(([t, n]) => `${t}: ${n}`).join(", ")}`)
      ),
      Effect.catchAllCause((cause) => Effect.logWarning("pruning failed", cause)),
      Effect.repeat(options.schedule ?? Schedule.spaced("10 minutes")),
      Effect.interruptible,
      Effect.forkScoped
    )
  )
