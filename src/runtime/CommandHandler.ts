/**
 * Command handling: load the aggregate, decide, and append its events (with the new state row and
 * the idempotency record) in one transaction. A concurrent change is retried under a `Schedule`.
 *
 * @since 0.1.0
 * @module
 */
import { Clock, Context, Effect, Either, Layer, Option, Schedule, Schema, type Tracer } from "effect"
import { dual } from "effect/Function"
import * as Aggregate from "../core/Aggregate.js"
import * as DomainEvent from "../core/DomainEvent.js"
import * as Subscription from "../core/Subscription.js"
import * as Instrumentation from "../operations/internal/instrumentation.js"
import * as Telemetry from "../operations/Telemetry.js"
import {
  ConcurrencyConflict,
  EventStore,
  EventStoreError,
  type IdempotencyRecord,
  streamHash
} from "../ports/EventStore.js"
import * as IdGenerator from "../ports/IdGenerator.js"
import * as CommitSignal from "./internal/commitSignal.js"
import { fingerprint } from "./internal/fingerprint.js"
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

const StoredResult = Schema.Struct({
  aggregateId: Schema.String,
  version: Schema.Number,
  state: Schema.Unknown,
  events: Schema.Array(Schema.Unknown)
})

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = <S extends Subscription.Any = never>(
  options: Options<S> = {}
): Effect.Effect<Service, never, EventStore | Subscription.Requirements<S>> =>
  Effect.gen(function*() {
    const store = yield* EventStore
    const ids = yield* IdGenerator.IdGenerator
    const signal = yield* CommitSignal.CommitSignal
    const syncSubscriptions = (options.subscriptions ?? []).filter((s) => s.mode === "sync")
    const context = yield* Effect.context<Subscription.Requirements<S>>()
    const telemetry = Instrumentation.commandHooks(yield* Telemetry.Enabled)

    /** Run the sync subscriptions that handle these events, in the command's transaction. */
    const runSync = (events: ReadonlyArray<DomainEvent.Envelope<unknown>>, span: Tracer.Span | undefined) =>
      Effect.forEach(events, (envelope) =>
        Effect.forEach(
          syncSubscriptions.filter((s) => Subscription.handles(s, envelope.aggregateType, envelope.eventType)),
          (subscription) =>
            Effect.mapError(
              telemetry.handle(subscription.name, envelope, span, subscription.handle(envelope.payload, envelope)),
              (cause) => new SubscriptionFailed({ subscription: subscription.name, cause })
            ),
          { discard: true }
        ), { discard: true }).pipe(Effect.provide(context)) as Effect.Effect<void, SubscriptionFailed>
    const retryConflicts = Schedule.whileInput(
      (options.retry ?? defaultRetry) as Schedule.Schedule<unknown, unknown>,
      (error) => error instanceof ConcurrencyConflict
    )

    const decodeState = (aggregate: Aggregate.Any, aggregateId: string, version: number, encoded: unknown) =>
      Either.match(DomainEvent.decodeValue(aggregate.state, encoded), {
        onLeft: (detail) =>
          Effect.fail(
            new DomainEvent.EventDecodeError({
              eventId: `${aggregate.name}/${aggregateId}@${version}`,
              aggregateType: aggregate.name,
              aggregateId,
              eventType: "(state)",
              schemaVersion: 0,
              detail
            })
          ),
        onRight: (state) => Effect.succeed(state)
      })

    // generators are made once (Effect.fnUntraced), not per command: a generator made from a fresh
    // `function*` closure gets a hidden class of its own, allocated in the old generation
    const loadAny = Effect.fnUntraced(function*(aggregate: Aggregate.Any, id: string) {
      const row = yield* store.readState(aggregate.name, id)
      let state = aggregate.initial(id)
      let version = 0
      if (Option.isSome(row)) {
        state = yield* decodeState(aggregate, id, row.value.version, row.value.state)
        version = row.value.version
      }
      if (aggregate.persistence._tag === "EventSourced") {
        const stored = yield* store.readStream(aggregate.name, id, version)
        for (const record of stored) {
          const event = yield* DomainEvent.decodeStored(aggregate, record)
          state = aggregate.evolve(state, event.payload)
          version = record.version
        }
      }
      return { id, state, version }
    })
    const load: Service["load"] = (aggregate, id) =>
      loadAny(aggregate, id) as Effect.Effect<Aggregate.Snapshot<Aggregate.Id<typeof aggregate>, any>, LoadError>

    const replay = Effect.fnUntraced(function*(aggregate: Aggregate.Any, record: IdempotencyRecord, print: string) {
      if (record.fingerprint !== print || record.aggregateType !== aggregate.name) {
        return yield* new IdempotencyKeyReused({ key: record.key })
      }
      const stored = yield* Schema.decodeUnknown(StoredResult)(record.result).pipe(
        Effect.mapError((error) =>
          new DomainEvent.EventDecodeError({
            eventId: `idempotency:${record.key}`,
            aggregateType: record.aggregateType,
            aggregateId: record.aggregateId,
            eventType: "(result)",
            schemaVersion: 0,
            detail: error.message
          })
        )
      )
      const state = yield* decodeState(aggregate, stored.aggregateId, stored.version, stored.state)
      const events = yield* Effect.forEach(
        stored.events as ReadonlyArray<DomainEvent.Stored>,
        (event) => DomainEvent.decodeStored(aggregate, event)
      )
      return {
        aggregateId: stored.aggregateId,
        state,
        version: stored.version,
        events,
        replayed: true
      } as Result<Aggregate.Any>
    })

    type AnyResult = Result<Aggregate.Any>
    const runCommand = Effect.fnUntraced(function*(
      aggregate: Aggregate.Any,
      id: string,
      command: string,
      input: unknown,
      options: ExecuteOptions,
      span: Tracer.Span | undefined,
      preconditions: ReadonlyArray<Preconditions.Precondition>
    ) {
      const key = options.idempotencyKey
      let print = ""
      if (key !== undefined) {
        print = options.fingerprint ?? fingerprint({
          aggregateType: aggregate.name,
          aggregateId: id,
          command,
          input: yield* DomainEvent.encodeValue(
            aggregate,
            `input of ${command}`,
            aggregate.commands[command]!.input,
            input
          )
        })
        const existing = yield* store.findIdempotencyRecord(key)
        if (Option.isSome(existing)) return yield* replay(aggregate, existing.value, print)
      }

      const checked = preconditions.length > 0 ? yield* Preconditions.check(preconditions, load) : undefined
      const current = yield* load(aggregate, id)
      const decision = yield* Aggregate.decide(aggregate, current, command, input)
      let events: ReadonlyArray<DomainEvent.Envelope<unknown>> = []
      let storedEvents: ReadonlyArray<DomainEvent.Stored> = []
      const version = current.version + decision.events.length

      if (decision.events.length > 0) {
        const now = yield* Clock.currentTimeMillis
        const unsaved: Array<DomainEvent.Unsaved> = []
        const trace = yield* telemetry.traceContext(options.metadata, span)
        let correlationId = options.metadata?.correlationId
        for (let i = 0; i < decision.events.length; i++) {
          const event = decision.events[i]!
          const eventId = yield* ids.next
          correlationId ??= eventId
          unsaved.push({
            eventId,
            aggregateType: aggregate.name,
            aggregateId: id,
            version: current.version + i + 1,
            eventType: event._tag,
            schemaVersion: Aggregate.schemaVersion(aggregate, event._tag),
            payload: yield* DomainEvent.encodePayload(aggregate, event),
            occurredAt: now,
            metadata: metadataOf(options, correlationId, key, trace)
          })
        }
        const persistence = aggregate.persistence
        const writeState = persistence._tag === "StateStored" || (persistence.snapshotEvery !== undefined &&
          Math.floor(version / persistence.snapshotEvery) > Math.floor(current.version / persistence.snapshotEvery))
        storedEvents = yield* telemetry.append(
          aggregate.name,
          unsaved.length,
          span,
          store.append({
            aggregateType: aggregate.name,
            aggregateId: id,
            expectedVersion: current.version,
            events: unsaved,
            state: writeState
              ? { version, state: yield* DomainEvent.encodeValue(aggregate, "state", aggregate.state, decision.state) }
              : undefined
          })
        )
        events = storedEvents.map((stored, i) => envelopeOf(stored, decision.events[i]!))
        if (syncSubscriptions.length > 0) yield* runSync(events, span)
      }

      if (key !== undefined) {
        yield* store.saveIdempotencyRecord({
          key,
          fingerprint: print,
          aggregateType: aggregate.name,
          aggregateId: id,
          result: {
            aggregateId: id,
            version,
            state: yield* DomainEvent.encodeValue(aggregate, "state", aggregate.state, decision.state),
            events: storedEvents
          },
          createdAt: yield* Clock.currentTimeMillis
        })
      }
      if (checked !== undefined) yield* Preconditions.assertUnchanged(store, checked)
      return { aggregateId: id, state: decision.state, version, events, replayed: false } as AnyResult
    })

    const executeOnce = <A extends Aggregate.Any, K extends Aggregate.CommandName<A>>(
      aggregate: A,
      id: Aggregate.Id<A>,
      command: K,
      input: Aggregate.Input<A, K>,
      options: ExecuteOptions,
      span: Tracer.Span | undefined
    ): Effect.Effect<Result<A>, ExecuteError<A, K>> =>
      Effect.withFiberRuntime((fiber) => {
        const preconditions = fiber.getFiberRef(Preconditions.current)
        // a precondition applies to this command only, not to those it runs (sync subscriptions)
        const body = preconditions.length === 0
          ? runCommand(aggregate, id, command, input, options, span, preconditions)
          : Effect.locally(
            runCommand(aggregate, id, command, input, options, span, preconditions),
            Preconditions.current,
            []
          )
        // only the append writes, and the store appends atomically on its own: no transaction needed
        // (the expected version still guards against concurrent writers). Inside a caller's
        // transaction the command keeps its savepoint, so a failure never aborts the caller's work.
        const canRunAlone = store.atomicAppend === true && options.idempotencyKey === undefined &&
          syncSubscriptions.length === 0 && preconditions.length === 0
        return (canRunAlone
          ? Effect.flatMap(
            store.inTransaction ?? Effect.succeed(true),
            (inside) =>
              inside ? store.withTransaction(body) : store.withSession !== undefined ? store.withSession(body) : body
          )
          : store.withTransaction(body)) as Effect.Effect<Result<A>, ExecuteError<A, K>>
      })

    /** Tell the relay's partitions that wait for these events: now, or after the enclosing transaction. */
    const signalled = <A>(aggregateType: string, aggregateId: string, result: A) =>
      Effect.flatMap(Effect.serviceOption(CommitSignal.Collecting), (collector) => {
        const committed = { aggregateType, streamHash: streamHash(aggregateId) }
        if (Option.isSome(collector) && collector.value.open) {
          collector.value.events.push(committed)
          return Effect.succeed(result)
        }
        return Effect.as(signal.committed([committed]), result)
      })

    const execute: Service["execute"] = (aggregate, id, command, input, options = {}) => {
      return telemetry.execute(aggregate.name, id, command, (span) => {
        const once = telemetry.attempt(aggregate.name, executeOnce(aggregate, id, command, input, options, span))
        // the retry machinery is only set up once a first attempt has conflicted
        return Effect.flatMap(
          Effect.catchIf(
            once,
            (error) => error instanceof ConcurrencyConflict,
            () => Effect.retry(once, retryConflicts)
          ),
          (result) => (result.events.length > 0 && !result.replayed
            ? signalled(aggregate.name, id, result)
            : Effect.succeed(result))
        )
      })
    }

    return { execute, load }
  })

/** A stored event as the caller's envelope (built field by field: no spread on the hot path). */
const envelopeOf = (stored: DomainEvent.Stored, payload: unknown): DomainEvent.Envelope<unknown> => ({
  eventId: stored.eventId,
  position: stored.position,
  aggregateType: stored.aggregateType,
  aggregateId: stored.aggregateId,
  version: stored.version,
  eventType: stored.eventType,
  schemaVersion: stored.schemaVersion,
  payload,
  occurredAt: new Date(stored.occurredAt),
  metadata: stored.metadata
})

const metadataOf = (
  options: ExecuteOptions,
  correlationId: string,
  idempotencyKey: string | undefined,
  trace: { readonly traceparent?: string; readonly tracestate?: string }
): DomainEvent.Metadata => {
  const metadata: { -readonly [K in keyof DomainEvent.Metadata]: DomainEvent.Metadata[K] } = { correlationId }
  if (options.metadata?.causationId !== undefined) metadata.causationId = options.metadata.causationId
  if (trace.traceparent !== undefined) metadata.traceparent = trace.traceparent
  if (trace.tracestate !== undefined) metadata.tracestate = trace.tracestate
  if (idempotencyKey !== undefined) metadata.idempotencyKey = idempotencyKey
  return metadata
}

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
