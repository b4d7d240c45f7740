/**
 * Health of the asynchronous side: per subscription, how far delivery lags behind the log, how
 * old the oldest undelivered event is, and how many dead letters wait, each against thresholds,
 * giving `healthy`, `degraded` or `unhealthy` with the reasons. It drives alerts and a health
 * endpoint, and keeps the telemetry gauges (lag, age, dead letters, leases held) up to date.
 *
 * @since 0.1.0
 * @module
 */
import { Clock, Context, Duration, Effect, Either, Layer, MetricLabel, Option, type Scope } from "effect"
import * as Subscription from "../core/Subscription.js"
import { Checkpoints } from "../ports/Checkpoints.js"
import { DeadLetters } from "../ports/DeadLetters.js"
import { EventStore, type EventStoreError } from "../ports/EventStore.js"
import { MessageBroker } from "../ports/MessageBroker.js"
import { ProjectionVersions } from "../ports/ProjectionVersions.js"
import { type HeldBack, Pruning } from "../ports/Pruning.js"
import * as Relay from "../runtime/Relay.js"
import * as Telemetry from "./Telemetry.js"

/**
 * @since 0.1.0
 * @category models
 */
export type Status = "healthy" | "degraded" | "unhealthy"

/**
 * A measure reaching `degraded` (or `unhealthy`) makes the subscription at least that.
 *
 * @since 0.1.0
 * @category models
 */
export interface Threshold<A> {
  readonly degraded?: A | undefined
  readonly unhealthy?: A | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Thresholds {
  /** Events behind the log. Default: degraded at 1,000, unhealthy at 10,000. */
  readonly lag?: Threshold<number> | undefined
  /** Age of the oldest undelivered event. Default: degraded at 1 minute, unhealthy at 5 minutes. */
  readonly oldestUndeliveredAge?: Threshold<Duration.DurationInput> | undefined
  /** Dead letters waiting. Default: degraded at 1, unhealthy at 10. */
  readonly deadLetters?: Threshold<number> | undefined
  /**
   * How long the subscription has held back the pruning of events it has not delivered (with
   * `Pruning` in context). Default: degraded at 1 day, unhealthy never.
   */
  readonly retentionHeldBack?: Threshold<Duration.DurationInput> | undefined
}

/**
 * The default thresholds.
 *
 * @since 0.1.0
 * @category constructors
 */
export const defaultThresholds: Thresholds = {
  lag: { degraded: 1_000, unhealthy: 10_000 },
  oldestUndeliveredAge: { degraded: "1 minute", unhealthy: "5 minutes" },
  deadLetters: { degraded: 1, unhealthy: 10 },
  retentionHeldBack: { degraded: "1 day" }
}

/**
 * @since 0.1.0
 * @category models
 */
export interface SubscriptionHealth {
  readonly subscription: string
  readonly status: Status
  /** Events committed but not yet delivered. */
  readonly lag: number
  /** Milliseconds since the oldest undelivered event occurred; 0 when there is none. */
  readonly oldestUndeliveredAgeMillis: number
  readonly deadLetters: number
  /**
   * Milliseconds since events it has not delivered could have been pruned (0 when none waits on
   * it); measured when `Pruning` is in context and its policy lets some events go.
   */
  readonly retentionHeldBackMillis?: number
  /** Why the status is not `healthy`. */
  readonly reasons: ReadonlyArray<string>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Report {
  /** The worst of the subscriptions' (and integration consumers') statuses. */
  readonly status: Status
  /** Epoch milliseconds. */
  readonly checkedAt: number
  readonly subscriptions: ReadonlyArray<SubscriptionHealth>
  /**
   * The integration consumers (`Options.consumers`), when there are any: `subscription` is the
   * consumer's name, `lag` the broker messages it has not settled (`MessageBroker.lag`). Since 0.2.0.
   */
  readonly consumers?: ReadonlyArray<SubscriptionHealth>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly subscriptions: ReadonlyArray<Subscription.Any>
  /** For every subscription; missing entries take the defaults. */
  readonly thresholds?: Thresholds | undefined
  /** Per subscription name, over `thresholds`. */
  readonly overrides?: Readonly<Record<string, Thresholds>> | undefined
  /**
   * Integration consumers to measure (their lag from the `MessageBroker`, their dead letters),
   * against the same thresholds and overrides (by consumer name). Since 0.2.0.
   */
  readonly consumers?: ReadonlyArray<{ readonly name: string }> | undefined
  /** How often `layer` refreshes the gauges in the background (default 15 seconds). */
  readonly refreshInterval?: Duration.DurationInput | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** Measure every subscription, update the gauges and judge. */
  readonly check: Effect.Effect<Report, EventStoreError>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class Health extends Context.Tag("effect-ddd/Health")<Health, Service>() {}

const rank: Record<Status, number> = { healthy: 0, degraded: 1, unhealthy: 2 }

/**
 * The worse of two statuses.
 *
 * @since 0.1.0
 * @category combinators
 */
export const worst = (a: Status, b: Status): Status => (rank[a] >= rank[b] ? a : b)

/**
 * The HTTP status of a health endpoint: 503 when unhealthy, 200 otherwise.
 *
 * @since 0.1.0
 * @category combinators
 */
export const httpStatus = (report: Report): number => (report.status === "unhealthy" ? 503 : 200)

const judge = <A>(
  what: string,
  value: number,
  threshold: Threshold<A> | undefined,
  toNumber: (a: A) => number,
  show: (n: number) => string
): { readonly status: Status; readonly reason?: string } => {
  for (const level of ["unhealthy", "degraded"] as const) {
    const limit = threshold?.[level]
    if (limit !== undefined && value >= toNumber(limit)) {
      return { status: level, reason: `${what} ${show(value)} reached the ${level} threshold ${show(toNumber(limit))}` }
    }
  }
  return { status: "healthy" }
}

const millis = (d: Duration.DurationInput) => Duration.toMillis(Duration.decode(d))

/**
 * Judge one subscription's measures against thresholds.
 *
 * @since 0.1.0
 * @category combinators
 */
export const evaluate = (
  subscription: string,
  measures: {
    readonly lag: number
    readonly oldestUndeliveredAgeMillis: number
    readonly deadLetters: number
    readonly retentionHeldBackMillis?: number
  },
  thresholds: Thresholds = defaultThresholds
): SubscriptionHealth => {
  const verdicts = [
    judge("lag", measures.lag, thresholds.lag, (n) => n, (n) => `${n} events`),
    judge(
      "oldest undelivered event age",
      measures.oldestUndeliveredAgeMillis,
      thresholds.oldestUndeliveredAge,
      millis,
      (n) => Duration.format(Duration.millis(n))
    ),
    judge("dead letters", measures.deadLetters, thresholds.deadLetters, (n) => n, (n) => `${n}`),
    judge(
      "pruning held back for",
      measures.retentionHeldBackMillis ?? 0,
      measures.retentionHeldBackMillis === undefined ? undefined : thresholds.retentionHeldBack,
      millis,
      (n) => Duration.format(Duration.millis(n))
    )
  ]
  return {
    subscription,
    status: verdicts.reduce<Status>((status, v) => worst(status, v.status), "healthy"),
    ...measures,
    reasons: verdicts.flatMap((v) => (v.reason === undefined ? [] : [v.reason]))
  }
}

const mergeThresholds = (base: Thresholds, over: Thresholds | undefined): Thresholds =>
  over === undefined ? base : {
    lag: { ...base.lag, ...over.lag },
    oldestUndeliveredAge: { ...base.oldestUndeliveredAge, ...over.oldestUndeliveredAge },
    deadLetters: { ...base.deadLetters, ...over.deadLetters },
    retentionHeldBack: { ...base.retentionHeldBack, ...over.retentionHeldBack }
  }

const tag = (name: string, value: string) => [MetricLabel.make(name, value)]

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<Service, never, EventStore | Checkpoints | DeadLetters> =>
  Effect.gen(function*() {
    const store = yield* EventStore
    const checkpoints = yield* Checkpoints
    const deadLetters = yield* DeadLetters
    const relay = yield* Effect.serviceOption(Relay.Relay)
    const pruning = yield* Effect.serviceOption(Pruning)
    const projections = yield* Effect.serviceOption(ProjectionVersions)
    const subscriptions = options.subscriptions.filter((s) => s.mode === "async")
    const base = mergeThresholds(defaultThresholds, options.thresholds)

    const measure = (subscription: Subscription.Any, now: number, held: ReadonlyArray<HeldBack> | undefined) =>
      Effect.gen(function*() {
        // dead letters first: a delivery that gives up commits its dead letter with the checkpoint
        // past it, so a dead letter seen here is never also counted in the lag read after it
        const dead = (yield* deadLetters.list({ subscription: subscription.name })).length
        let lag = 0
        let oldest: number | undefined
        for (let partition = 0; partition < subscription.partitions; partition++) {
          const cursor = yield* checkpoints.get(subscription.name, partition)
          const backlog = yield* store.backlog(cursor, Subscription.logFilter(subscription, partition))
          lag += backlog.count
          if (backlog.oldestOccurredAt !== undefined && (oldest === undefined || backlog.oldestOccurredAt < oldest)) {
            oldest = backlog.oldestOccurredAt
          }
        }
        const since = held?.filter((h) => h.subscription === subscription.name).map((h) => h.since)
        const measures = {
          lag,
          oldestUndeliveredAgeMillis: oldest === undefined ? 0 : Math.max(0, now - oldest),
          deadLetters: dead,
          ...(since === undefined ? {} : {
            retentionHeldBackMillis: since.length === 0 ? 0 : Math.max(0, now - Math.min(...since))
          })
        }
        const tags = tag("subscription", subscription.name)
        Telemetry.lag.unsafeUpdate(lag, tags)
        Telemetry.oldestUndeliveredAge.unsafeUpdate(measures.oldestUndeliveredAgeMillis / 1000, tags)
        Telemetry.deadLetters.unsafeUpdate(dead, tags)
        if (Option.isSome(relay)) {
          const owner = relay.value.owner
          const held = (yield* checkpoints.leases(subscription.name)).filter((l) =>
            l.owner === owner && l.expiresAt > now
          ).length
          Telemetry.leasesHeld.unsafeUpdate(held, [...tags, MetricLabel.make("owner", owner)])
        }
        const judged = evaluate(
          subscription.name,
          measures,
          mergeThresholds(base, options.overrides?.[subscription.name])
        )
        return yield* withRefusal(subscription, judged)
      })

    /** A projection version that was refused (its source events were pruned) is degraded, saying why. */
    const withRefusal = (subscription: Subscription.Any, judged: SubscriptionHealth) =>
      subscription.versions === undefined || Option.isNone(projections)
        ? Effect.succeed(judged)
        : Effect.map(projections.value.list(subscription.versions.name), (versions) => {
          const refused = versions.find((v) => v.version === subscription.versions!.version && v.status === "refused")
          return refused === undefined ? judged : {
            ...judged,
            status: worst(judged.status, "degraded"),
            reasons: [...judged.reasons, `refused: ${refused.detail ?? "not built"}`]
          }
        })

    const broker = yield* Effect.serviceOption(MessageBroker)
    const consumers = options.consumers ?? []

    /** A consumer's lag from the broker (unknown when it cannot be read: unhealthy), and its dead letters. */
    const measureConsumer = (name: string) =>
      Effect.gen(function*() {
        const dead = (yield* deadLetters.list({ subscription: name })).length
        const thresholds = mergeThresholds(base, options.overrides?.[name])
        const lag = Option.isNone(broker)
          ? Either.left("no MessageBroker in the health service's context")
          : yield* Effect.either(Effect.mapError(broker.value.lag(name), (e) => e.message))
        if (Either.isLeft(lag)) {
          const judged = evaluate(name, { lag: 0, oldestUndeliveredAgeMillis: 0, deadLetters: dead }, thresholds)
          return { ...judged, status: "unhealthy" as const, reasons: [`lag unknown: ${lag.left}`, ...judged.reasons] }
        }
        Telemetry.consumerLag.unsafeUpdate(lag.right, tag("consumer", name))
        return evaluate(name, { lag: lag.right, oldestUndeliveredAgeMillis: 0, deadLetters: dead }, thresholds)
      })

    const check = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      // measured when the policy lets some events go
      const prunes = Option.isSome(pruning) &&
        (yield* pruning.value.policy).aggregates.some((a) => a.events !== "keep")
      const held = prunes && Option.isSome(pruning) ? yield* pruning.value.heldBack(now) : undefined
      const results = yield* Effect.forEach(subscriptions, (s) => measure(s, now, held))
      const consumerResults = yield* Effect.forEach(consumers, (c) => measureConsumer(c.name))
      return {
        status: [...results, ...consumerResults].reduce<Status>((status, r) => worst(status, r.status), "healthy"),
        checkedAt: now,
        subscriptions: results,
        ...(consumers.length === 0 ? {} : { consumers: consumerResults })
      }
    })
    return { check }
  })

/**
 * The health service, refreshing the gauges every `refreshInterval` while the layer is up (a
 * failed refresh is logged and retried at the next tick).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<Health, never, EventStore | Checkpoints | DeadLetters> =>
  Layer.scoped(
    Health,
    Effect.tap(make(options), (service) => refresh(service, options.refreshInterval ?? "15 seconds"))
  )

const refresh = (service: Service, interval: Duration.DurationInput): Effect.Effect<void, never, Scope.Scope> =>
  service.check.pipe(
    Effect.catchAllCause((cause) => Effect.logWarning("health check failed", cause)),
    Effect.zipRight(Effect.sleep(interval)),
    Effect.forever,
    Effect.forkScoped,
    Effect.asVoid
  )

/**
 * Run a health check with the `Health` service in context.
 *
 * @since 0.1.0
 * @category combinators
 */
export const check: Effect.Effect<Report, EventStoreError, Health> = Effect.flatMap(Health, (health) => health.check)
