/**
 * Subscriptions: named, typed handlers for a set of event types. `sync` subscriptions run inside
 * the command's transaction (their failure rolls the command back); `async` ones are driven by
 * the relay, each with its own retry schedule and partition count.
 *
 * @since 0.1.0
 * @module
 */
import { Effect, Schedule } from "effect"
import * as EventStore from "../ports/EventStore.js"
import type * as Aggregate from "./Aggregate.js"
import type * as DomainEvent from "./DomainEvent.js"

/**
 * The events of one aggregate a subscription handles.
 *
 * @since 0.1.0
 * @category models
 */
export interface Source<out Event> {
  readonly aggregate: Aggregate.Any
  /** The event tags handled; all of the aggregate's when empty. */
  readonly eventTypes: ReadonlyArray<string>
  /** Carries the event type (never set). */
  readonly _Event?: (_: never) => Event
}

/**
 * Handle some (or all) events of an aggregate: `Subscription.on(Order, "OrderPlaced")`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const on = <A extends Aggregate.Any, const T extends ReadonlyArray<Aggregate.Event<A>["_tag"]> = []>(
  aggregate: A,
  ...eventTypes: T
): Source<T extends readonly [] ? Aggregate.Event<A> : Extract<Aggregate.Event<A>, { readonly _tag: T[number] }>> => ({
  aggregate,
  eventTypes
})

/** @since 0.1.0 @category models */
export type EventOf<S> = S extends Source<infer E> ? E : never

/**
 * @since 0.1.0
 * @category models
 */
export interface Subscription<in out Event, out E, out R> {
  readonly name: string
  readonly sources: ReadonlyArray<Source<unknown>>
  readonly mode: "sync" | "async"
  /** How a failing delivery is retried before it is dead-lettered. */
  readonly retry: Schedule.Schedule<unknown, unknown>
  /** Aggregates are spread over this many partitions (by a hash of their id). */
  readonly partitions: number
  /** Handle one event, with its envelope (the event id is an idempotency key for effects elsewhere). */
  readonly handle: (event: Event, envelope: DomainEvent.Envelope<Event>) => Effect.Effect<void, E, R>
  /**
   * `projection`: a read model whose writes commit with the checkpoint (rebuilt by replay);
   * `publication`: publishes integration events to a broker (`Publication`).
   */
  readonly kind: "handler" | "projection" | "publication"
  /**
   * `false`: the handler runs before the delivery's transaction rather than inside it, and the
   * checkpoint commits once the handler succeeded: for effects outside the database that must not
   * hold a transaction open (a broker's acknowledgement). Default `true`.
   */
  readonly inTransaction?: boolean | undefined
  /** Most events delivered in one transaction (default: the relay's `batchSize`). */
  readonly batchSize?: number | undefined
  /** A projection's versions (`projection` only): which one this delivers, how each is built. */
  readonly versions?: Versions<R> | undefined
}

/**
 * The version of a projection a delivery builds: its handler, `init` and `drop` receive it, so
 * that each version writes its own tables (`order_summaries_v2`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Target {
  /** The projection's name. */
  readonly name: string
  readonly version: number
}

/**
 * How a projection's versions are built: the relay delivers each version as a subscription of its
 * own (`at`), runs `init` once before a version's first delivery and `drop` once it is retired.
 *
 * @since 0.1.0
 * @category models
 */
export interface Versions<out R> {
  /** The projection's name (its versions' subscriptions are named `name`, `name@v2`, ...). */
  readonly name: string
  /** The version this code builds and, once it has caught up, serves. */
  readonly version: number
  /** Build a new version from the earliest event kept when older ones were pruned, rather than refuse. */
  readonly fromEarliestKept: boolean
  /** Create a version's tables, once, before its first delivery. */
  readonly init: (target: Target) => Effect.Effect<void, unknown, R>
  /** Drop a version's tables, once it is retired. */
  readonly drop: (target: Target) => Effect.Effect<void, unknown, R>
  /** The subscription that delivers one version. */
  readonly at: (version: number) => Subscription<any, unknown, R>
}

/**
 * The name of the subscription that delivers a version of a projection: the projection's name for
 * version 1 (so a projection defined before it had versions keeps its checkpoints), `name@vN` after.
 *
 * @since 0.1.0
 * @category combinators
 */
export const versionName = (name: string, version: number): string => version === 1 ? name : `${name}@v${version}`

/**
 * Any subscription.
 *
 * @since 0.1.0
 * @category models
 */
export type Any = Subscription<any, any, any>

/** @since 0.1.0 @category models */
export type Requirements<S> = S extends Subscription<any, any, infer R> ? R : never

/**
 * Default retries: 5, exponential from 100 ms with jitter, at most 5 s apart.
 *
 * @since 0.1.0
 * @category constructors
 */
export const defaultRetry: Schedule.Schedule<unknown, unknown> = Schedule.exponential("100 millis").pipe(
  Schedule.jittered,
  Schedule.either(Schedule.spaced("5 seconds")),
  Schedule.intersect(Schedule.recurs(5))
)

/**
 * Define a subscription.
 *
 * @example
 * The example server's payments (`examples/http-server/PaymentGateway.ts`):
 * {@includeCode ../../examples/http-server/PaymentGateway.ts#subscription}
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <const S extends ReadonlyArray<Source<any>>, E = never, R = never>(options: {
  readonly name: string
  readonly events: S
  readonly handle: (
    event: EventOf<S[number]>,
    envelope: DomainEvent.Envelope<EventOf<S[number]>>
  ) => Effect.Effect<void, E, R>
  /** `async` (default): delivered by the relay; `sync`: inside the command's transaction. */
  readonly mode?: "sync" | "async"
  readonly retry?: Schedule.Schedule<unknown, unknown>
  readonly partitions?: number
  /** Most events delivered in one transaction (default: the relay's `batchSize`; 1: each alone). */
  readonly batchSize?: number
}): Subscription<EventOf<S[number]>, E, R> => ({
  name: options.name,
  sources: options.events,
  mode: options.mode ?? "async",
  retry: options.retry ?? defaultRetry,
  partitions: options.partitions ?? 4,
  handle: options.handle,
  kind: "handler",
  batchSize: options.batchSize
})

/**
 * A projection: an async subscription that maintains a read model in the same database. Its
 * writes (made through the ambient transaction, e.g. with the `SqlClient`) commit together with
 * the relay's checkpoint, so each event is applied exactly once.
 *
 * A projection has a `version` (default 1). Raising it rebuilds the read model side by side: the
 * relay runs `init` for the new version, delivers the log to it from the start under a checkpoint
 * of its own while the version serving reads goes on, switches reads to it once it has caught up
 * (`ProjectionVersions.serving`), then drops the old version (`drop`). The handler, `init` and
 * `drop` receive the version they build. When events the projection reads were pruned, a build
 * from the start is refused (`ProjectionRebuildRefused`) unless `fromEarliestKept` is set.
 *
 * @example
 * {@includeCode ../../examples/projections.ts#projection}
 *
 * @since 0.1.0
 * @category constructors
 */
export const projection = <const S extends ReadonlyArray<Source<any>>, E = never, R = never>(options: {
  readonly name: string
  readonly events: S
  readonly handle: (
    event: EventOf<S[number]>,
    envelope: DomainEvent.Envelope<EventOf<S[number]>>,
    target: Target
  ) => Effect.Effect<void, E, R>
  /** The version this code builds (default 1); raise it to rebuild the read model side by side. */
  readonly version?: number
  /** Create a version's tables (idempotent, e.g. `CREATE TABLE IF NOT EXISTS`), before its first delivery. */
  readonly init?: (target: Target) => Effect.Effect<void, unknown, R>
  /** Drop a version's tables, once reads have switched away from it and nothing delivers it. */
  readonly drop?: (target: Target) => Effect.Effect<void, unknown, R>
  /** When events it reads were pruned, build a new version from the earliest event kept instead of refusing. */
  readonly fromEarliestKept?: boolean
  readonly retry?: Schedule.Schedule<unknown, unknown>
  readonly partitions?: number
}): Subscription<EventOf<S[number]>, E, R> => {
  const version = options.version ?? 1
  if (!Number.isInteger(version) || version < 1) {
    throw new RangeError(`projection ${options.name}: version must be a positive integer, got ${version}`)
  }
  const versions: Versions<R> = {
    name: options.name,
    version,
    fromEarliestKept: options.fromEarliestKept ?? false,
    init: options.init ?? (() => Effect.void),
    drop: options.drop ?? (() => Effect.void),
    at: (v) => at(v)
  }
  const at = (v: number): Subscription<EventOf<S[number]>, E, R> => {
    const target: Target = { name: options.name, version: v }
    return {
      ...make({
        name: versionName(options.name, v),
        events: options.events,
        handle: (event, envelope) => options.handle(event, envelope, target),
        ...(options.retry === undefined ? {} : { retry: options.retry }),
        ...(options.partitions === undefined ? {} : { partitions: options.partitions })
      }),
      kind: "projection",
      versions
    }
  }
  return at(version)
}

/**
 * Whether a subscription handles a stored event.
 *
 * @since 0.1.0
 * @category guards
 */
export const handles = (subscription: Any, aggregateType: string, eventType: string): boolean =>
  subscription.sources.some((source) =>
    source.aggregate.name === aggregateType && (source.eventTypes.length === 0 || source.eventTypes.includes(eventType))
  )

/**
 * The aggregate definition that decodes a stored event for this subscription.
 *
 * @since 0.1.0
 * @category combinators
 */
export const aggregateOf = (subscription: Any, aggregateType: string): Aggregate.Any | undefined =>
  subscription.sources.find((source) => source.aggregate.name === aggregateType)?.aggregate

/**
 * The partition of an aggregate: a hash of its id modulo the partition count.
 *
 * @since 0.1.0
 * @category combinators
 */
export const partitionOf = (aggregateId: string, partitions: number): number =>
  EventStore.streamHash(aggregateId) % partitions

/**
 * The part of the log a subscription reads, optionally one partition of it.
 *
 * @since 0.1.0
 * @category combinators
 */
export const logFilter = (subscription: Any, partition?: number): EventStore.LogFilter => ({
  sources: subscription.sources.map((source) => ({
    aggregateType: source.aggregate.name,
    eventTypes: source.eventTypes
  })),
  ...(partition === undefined ? {} : { partition: { count: subscription.partitions, index: partition } })
})
