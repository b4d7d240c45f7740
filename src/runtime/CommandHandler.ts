/**
 * Command handling: load the aggregate, decide, and append its events (with the new state row and
 * the idempotency record) in one transaction. A concurrent change is retried under a `Schedule`.
 *
 * @since 0.1.0
 * @module
 */
import type { Either } from "effect"
import { Context, Effect, Layer, Schedule, Schema } from "effect"
import { dual } from "effect/Function"
import type * as Aggregate from "../core/Aggregate.js"
import * as DomainEvent from "../core/DomainEvent.js"
import type * as Subscription from "../core/Subscription.js"
import type { EventStore } from "../ports/EventStore.js"
import { ConcurrencyConflict, EventStoreError } from "../ports/EventStore.js"
import * as internal from "./internal/commandHandler/handler.js"
import * as Preconditions from "./internal/preconditions.js"

/**
 * The idempotency key was used before for a different request.
 *
 * @since 0.1.0
 * @category errors
 */
export class IdempotencyKeyReused extends Schema.TaggedError<IdempotencyKeyReused>()("IdempotencyKeyReused", {
  key: Schema.String
}) {
  override get message() {
    return `idempotency key ${JSON.stringify(this.key)} was already used for a different request`
  }
}

/**
 * A sync subscription failed inside the command's transaction, so the command was rolled back.
 *
 * @since 0.1.0
 * @category errors
 */
export class SubscriptionFailed extends Schema.TaggedError<SubscriptionFailed>()("SubscriptionFailed", {
  subscription: Schema.String,
  cause: Schema.Defect
}) {
  override get message() {
    return `sync subscription ${this.subscription} failed: ${
      String((this.cause as Error | undefined)?.message ?? this.cause)
    }`
  }
}

/**
 * @since 0.1.0
 * @category models
 */
export interface ExecuteOptions {
  /**
   * Store the result under this key in the command's transaction; a repeat returns the stored
   * result without running the command again. Keys are global: prefix them per use case.
   */
  readonly idempotencyKey?: string | undefined
  /**
   * What makes two requests with the same key "the same". Defaults to a hash of the aggregate
   * type, id, command name and encoded input. Set it (e.g. to a hash of an HTTP body) when the
   * aggregate id is generated per request: a replay then returns the first request's aggregate.
   */
  readonly fingerprint?: string | undefined
  readonly metadata?: {
    readonly correlationId?: string | undefined
    readonly causationId?: string | undefined
    readonly traceparent?: string | undefined
    readonly tracestate?: string | undefined
  }
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Result<A extends Aggregate.Any> {
  readonly aggregateId: Aggregate.Id<A>
  readonly state: Aggregate.State<A>
  readonly version: number
  readonly events: ReadonlyArray<DomainEvent.Envelope<Aggregate.Event<A>>>
  /** True when the result was stored by an earlier execution with the same idempotency key. */
  readonly replayed: boolean
}

/**
 * @since 0.1.0
 * @category models
 */
export type LoadError = EventStoreError | DomainEvent.EventDecodeError

/**
 * @since 0.1.0
 * @category models
 */
export type ExecuteError<A extends Aggregate.Any, K extends Aggregate.CommandName<A>> =
  | Aggregate.DomainError<A, K>
  | Aggregate.AggregateNotFound
  | Aggregate.AggregateAlreadyExists
  | ConcurrencyConflict
  | IdempotencyKeyReused
  | SubscriptionFailed
  | DomainEvent.EncodeError
  | LoadError

/**
 * The errors of an execution that are not the aggregate's answer: the store failed, a conflict
 * outlasted the retries, a value did not match its schema, a sync subscription failed, an
 * idempotency key was reused. Retrying later may help; the command was not refused.
 *
 * @since 0.1.0
 * @category models
 */
export type InfrastructureError =
  | ConcurrencyConflict
  | IdempotencyKeyReused
  | SubscriptionFailed
  | DomainEvent.EncodeError
  | DomainEvent.EventDecodeError
  | EventStoreError

/**
 * Whether an execution's error is an `InfrastructureError` rather than the aggregate refusing the
 * command (a domain error, a missing or existing aggregate).
 *
 * @since 0.1.0
 * @category guards
 */
export const isInfrastructureError = (error: unknown): error is InfrastructureError =>
  error instanceof ConcurrencyConflict || error instanceof IdempotencyKeyReused ||
  error instanceof SubscriptionFailed || error instanceof DomainEvent.EncodeError ||
  error instanceof DomainEvent.EventDecodeError || error instanceof EventStoreError

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** Load, decide and append in one transaction (see `execute`). */
  readonly execute: <A extends Aggregate.Any, K extends Aggregate.CommandName<A>>(
    aggregate: A,
    id: Aggregate.Id<A>,
    command: K,
    input: Aggregate.Input<A, K>,
    options?: ExecuteOptions
  ) => Effect.Effect<Result<A>, ExecuteError<A, K>>
  /** The current state and version of an aggregate (version 0: it does not exist). */
  readonly load: <A extends Aggregate.Any>(
    aggregate: A,
    id: Aggregate.Id<A>
  ) => Effect.Effect<Aggregate.Snapshot<Aggregate.Id<A>, Aggregate.State<A>>, LoadError>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class CommandHandler extends Context.Tag("effect-ddd/CommandHandler")<CommandHandler, Service>() {}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options<S extends Subscription.Any = never> {
  /** How conflicting executions are retried. Default: `defaultRetry`. */
  readonly retry?: Schedule.Schedule<unknown, ConcurrencyConflict>
  /**
   * Subscriptions whose `sync` ones run inside each command's transaction, after its events are
   * appended: their failure rolls the command back. (`async` ones are the relay's.)
   */
  readonly subscriptions?: ReadonlyArray<S>
}

/**
 * Up to 5 retries, exponential from 10 ms with jitter.
 *
 * @since 0.1.0
 * @category constructors
 */
export const defaultRetry: Schedule.Schedule<unknown, ConcurrencyConflict> = Schedule.exponential("10 millis").pipe(
  Schedule.jittered,
  Schedule.intersect(Schedule.recurs(5))
)

/**
 * @since 0.1.0
 * @category constructors
 */
export const make: <S extends Subscription.Any = never>(
  options?: Options<S>
) => Effect.Effect<Service, never, EventStore | Subscription.Requirements<S>> = internal.make

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = <S extends Subscription.Any = never>(
  options: Options<S> = {}
): Layer.Layer<CommandHandler, never, EventStore | Subscription.Requirements<S>> =>
  Layer.effect(CommandHandler, make(options))

/**
 * Execute a command with the `CommandHandler` in context.
 *
 * @since 0.1.0
 * @category combinators
 */
export const execute = <A extends Aggregate.Any, K extends Aggregate.CommandName<A>>(
  aggregate: A,
  id: Aggregate.Id<A>,
  command: K,
  input: Aggregate.Input<A, K>,
  options?: ExecuteOptions
): Effect.Effect<Result<A>, ExecuteError<A, K>, CommandHandler> =>
  Effect.flatMap(CommandHandler, (handler) => handler.execute(aggregate, id, command, input, options))

/**
 * Load an aggregate with the `CommandHandler` in context.
 *
 * @since 0.1.0
 * @category combinators
 */
export const load = <A extends Aggregate.Any>(
  aggregate: A,
  id: Aggregate.Id<A>
): Effect.Effect<Aggregate.Snapshot<Aggregate.Id<A>, Aggregate.State<A>>, LoadError, CommandHandler> =>
  Effect.flatMap(CommandHandler, (handler) => handler.load(aggregate, id))

/**
 * Run the commands of `self` only if another aggregate satisfies `check` (a rule such as "enroll
 * only in a published course"). The other aggregate is read inside each command's transaction and
 * checked before the command decides; a refusal is the command's error (`E`, nothing is written).
 * After the command's writes, still in its transaction, the other aggregate's version is read
 * again: if it moved, the command fails with a `ConcurrencyConflict` naming that aggregate, which
 * the handler's retry schedule re-runs (read, check and decide again).
 *
 * What it guarantees: the command commits only if the other aggregate passed the check at a version
 * it still had after the command's writes. In memory and on SQLite, where transactions run one at
 * a time, that is the version at commit. On PostgreSQL (read committed) another transaction can
 * still change it between that last read and the commit; it is then ordered after the command, as
 * if it had run just after it. That is enough for a rule that goes one way (the course does not
 * look at its enrollments); a rule that must hold both ways is an invariant: keep it in one
 * aggregate, or let a process manager compensate.
 *
 * @example
 * ```ts
 * CommandHandler.execute(Enrollment, enrollmentId, "enroll", { courseId, studentId }).pipe(
 *   CommandHandler.withPrecondition(Course, courseId, (course) =>
 *     course.published ? Either.void : Either.left(new CourseNotPublished({ courseId })))
 * )
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const withPrecondition: {
  /**
   * Pipeable: `command.pipe(CommandHandler.withPrecondition(Other, id, check))`.
   *
   * @typeParam C - The check: the other aggregate's state to an `Either`, whose errors join the command's.
   */
  <B extends Aggregate.Any, C extends (state: Aggregate.State<B>) => Either.Either<unknown, any>>(
    aggregate: B,
    id: Aggregate.Id<B>,
    check: C
  ): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | Aggregate.DecideError<ReturnType<C>>, R>
  /**
   * Data-first: `CommandHandler.withPrecondition(command, Other, id, check)`.
   *
   * @typeParam C - The check: the other aggregate's state to an `Either`, whose errors join the command's.
   */
  <A, E, R, B extends Aggregate.Any, C extends (state: Aggregate.State<B>) => Either.Either<unknown, any>>(
    self: Effect.Effect<A, E, R>,
    aggregate: B,
    id: Aggregate.Id<B>,
    check: C
  ): Effect.Effect<A, E | Aggregate.DecideError<ReturnType<C>>, R>
} = dual(4, <A, E, R>(
  self: Effect.Effect<A, E, R>,
  aggregate: Aggregate.Any,
  id: string,
  check: (state: unknown) => Either.Either<unknown, unknown>
): Effect.Effect<A, E, R> => Preconditions.add(self, { aggregate, id, check }))
