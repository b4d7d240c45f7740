/**
 * How long the library's tables keep what they hold: per aggregate type, whether its events may be
 * removed once delivered (state-stored aggregates: the events table is only their outbox) or kept
 * (event-sourced ones, unless they opt in to keeping only what their latest snapshot needs); how
 * long idempotency records and inbox rows deduplicate; when finished process-manager instances go.
 * Dead letters are never removed automatically.
 *
 * The policy is data: `Pruning` applies it, the store layer records it in the database so that
 * `effect-ddd prune` applies the same one. See docs/data-lifecycle.md.
 *
 * @since 0.1.0
 * @module
 */
import { Duration, Schema } from "effect"
import type * as Aggregate from "../core/Aggregate.js"

/**
 * The longest redelivery window the library knows about: a NATS JetStream stream keeps messages
 * 7 days by default (`maxAge`), and a consumer that was down may receive any of them again. An
 * inbox row or idempotency record removed sooner could let a redelivery apply twice, so no window
 * may be shorter (the NATS duplicate window, 10 minutes by default, is far shorter).
 *
 * @since 0.1.0
 * @category models
 */
export const minimumDeduplicationWindow: Duration.Duration = Duration.days(7)

/**
 * The shortest time events are kept. A command checks its expected version against the versions
 * in the events table: were an event removed while a command that loaded the aggregate before it
 * was still running, that command could append over the removed version. An hour is far longer
 * than any command's transaction.
 *
 * @since 0.1.0
 * @category models
 */
export const minimumEventRetention: Duration.Duration = Duration.hours(1)

/**
 * What happens to an aggregate type's events:
 * - `delivered`: removed once every subscription reading them has delivered them and they are
 *   older than `keepMillis` (the default of state-stored aggregates);
 * - `beforeSnapshot`: the same, and only events at or below the version of the aggregate's
 *   snapshot (an event-sourced aggregate's opt-in: loading needs nothing older);
 * - `keep`: never removed (the default of event-sourced aggregates).
 *
 * @since 0.1.0
 * @category models
 */
export const EventRetention = Schema.Struct({
  aggregateType: Schema.String,
  events: Schema.Literal("delivered", "beforeSnapshot", "keep"),
  keepMillis: Schema.Number
})

/**
 * @since 0.1.0
 * @category models
 */
export type EventRetention = typeof EventRetention.Type

/**
 * A process manager whose completed (or compensated) instances are removed, with their events
 * and deadlines, once their last event is older than `completedMillis` and every subscription
 * has delivered their events.
 *
 * @since 0.1.0
 * @category models
 */
export const ProcessRetention = Schema.Struct({ name: Schema.String, completedMillis: Schema.Number })

/**
 * @since 0.1.0
 * @category models
 */
export type ProcessRetention = typeof ProcessRetention.Type

/**
 * A whole policy, as recorded in the database (JSON).
 *
 * @since 0.1.0
 * @category models
 */
export const Policy = Schema.Struct({
  aggregates: Schema.Array(EventRetention),
  processManagers: Schema.Array(ProcessRetention),
  idempotencyMillis: Schema.Number,
  inboxMillis: Schema.Number
})

/**
 * @since 0.1.0
 * @category models
 */
export type Policy = typeof Policy.Type

/**
 * A window shorter than a deduplication guarantee allows, or a negative period.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidRetention extends Schema.TaggedError<InvalidRetention>()("InvalidRetention", {
  detail: Schema.String
}) {
  override get message() {
    return `invalid retention policy: ${this.detail}`
  }
}

/**
 * The options of `policy`; every duration defaults to 7 days.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The aggregates whose events may go: their kind (`Aggregate.withPersistence`) decides how. */
  readonly aggregates?: ReadonlyArray<Aggregate.Any> | undefined
  /** How long delivered events are kept. */
  readonly events?: Duration.DurationInput | undefined
  /** Event-sourced aggregates: `keep` (default) or `beforeSnapshot`. */
  readonly eventSourced?: "keep" | "beforeSnapshot" | undefined
  /** Process managers whose completed instances are removed after `completedInstances`. */
  readonly processManagers?: ReadonlyArray<{ readonly name: string }> | undefined
  readonly completedInstances?: Duration.DurationInput | undefined
  /** At least `minimumDeduplicationWindow`. */
  readonly idempotency?: Duration.DurationInput | undefined
  /** At least `minimumDeduplicationWindow`. */
  readonly inbox?: Duration.DurationInput | undefined
}

const week = Duration.days(7)
const millis = (d: Duration.DurationInput | undefined) => Duration.toMillis(Duration.decode(d ?? week))

/**
 * The default policy: no aggregate's events are removed (none is named), idempotency records and
 * inbox rows after 7 days.
 *
 * @since 0.1.0
 * @category constructors
 */
export const defaults: Policy = {
  aggregates: [],
  processManagers: [],
  idempotencyMillis: Duration.toMillis(week),
  inboxMillis: Duration.toMillis(week)
}

/**
 * Check that a policy undercuts no deduplication guarantee (windows at least
 * `minimumDeduplicationWindow`) and keeps events at least `minimumEventRetention`; throws
 * `InvalidRetention` otherwise.
 *
 * @since 0.1.0
 * @category constructors
 */
export const validate = (policy: Policy): Policy => {
  const floor = Duration.toMillis(minimumDeduplicationWindow)
  for (const [name, value] of [["idempotency", policy.idempotencyMillis], ["inbox", policy.inboxMillis]] as const) {
    if (value < floor) {
      throw new InvalidRetention({
        detail: `the ${name} window (${
          Duration.format(Duration.millis(value))
        }) is shorter than the longest redelivery window (${Duration.format(minimumDeduplicationWindow)})`
      })
    }
  }
  const periods = [
    ...policy.aggregates.map((a) => a.keepMillis),
    ...policy.processManagers.map((p) => p.completedMillis)
  ]
  if (periods.some((p) => !(p >= Duration.toMillis(minimumEventRetention)))) {
    throw new InvalidRetention({
      detail: `events and finished instances are kept at least ${Duration.format(minimumEventRetention)}`
    })
  }
  return policy
}

/**
 * A policy from aggregate definitions: state-stored aggregates' delivered events go after
 * `events`; event-sourced ones are kept unless `eventSourced: "beforeSnapshot"`. A process
 * manager's instances are its own (their events go with the instance). Throws `InvalidRetention`
 * for a window under `minimumDeduplicationWindow`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const policy = (options: Options = {}): Policy => {
  const processManagers = (options.processManagers ?? []).map((pm) => ({
    name: pm.name,
    completedMillis: millis(options.completedInstances)
  }))
  const managed = new Set(processManagers.map((pm) => pm.name))
  return validate({
    aggregates: (options.aggregates ?? []).filter((a) => !managed.has(a.name)).map((a) => ({
      aggregateType: a.name,
      events: a.persistence._tag === "StateStored" ? "delivered" : (options.eventSourced ?? "keep"),
      keepMillis: millis(options.events)
    })),
    processManagers,
    idempotencyMillis: millis(options.idempotency),
    inboxMillis: millis(options.inbox)
  })
}
