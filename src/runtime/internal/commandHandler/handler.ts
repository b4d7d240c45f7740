/**
 * The command handler: a command runs in one transaction (load, decide, append the events with the
 * state row and the idempotency record, run the sync subscriptions), retried under a `Schedule`
 * while it conflicts with a concurrent change; the relay's partitions waiting for its events are
 * signalled once it commits.
 */
import { Clock, Effect, Option, Schedule, type Tracer } from "effect"
import * as Aggregate from "../../../core/Aggregate.js"
import * as DomainEvent from "../../../core/DomainEvent.js"
import * as Subscription from "../../../core/Subscription.js"
import * as Instrumentation from "../../../operations/internal/instrumentation.js"
import * as Telemetry from "../../../operations/Telemetry.js"
import { ConcurrencyConflict, EventStore, streamHash } from "../../../ports/EventStore.js"
import * as IdGenerator from "../../../ports/IdGenerator.js"
import {
  defaultRetry,
  type ExecuteError,
  type ExecuteOptions,
  type Options,
  type Result,
  type Service,
  SubscriptionFailed
} from "../../CommandHandler.js"
import * as CommitSignal from "../commitSignal.js"
import * as Preconditions from "../preconditions.js"
import * as Events from "./events.js"
import * as Idempotency from "./idempotency.js"
import { makeLoad } from "./state.js"

type AnyResult = Result<Aggregate.Any>

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
    const loadAny = makeLoad(store)
    const load = loadAny as Service["load"]

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

    /** Append a decision's events (and the state row), run the sync subscriptions; the stored events. */
    const append = Effect.fnUntraced(function*(
      aggregate: Aggregate.Any,
      current: Aggregate.Snapshot<string, unknown>,
      decision: { readonly state: unknown; readonly events: ReadonlyArray<{ readonly _tag: string }> },
      options: ExecuteOptions,
      span: Tracer.Span | undefined
    ) {
      const version = current.version + decision.events.length
      const trace = yield* telemetry.traceContext(options.metadata, span)
      const unsaved = yield* Events.unsaved(
        ids,
        aggregate,
        current.id,
        current.version,
        decision.events,
        options,
        trace
      )
      const state = Events.writesState(aggregate, current.version, version)
        ? { version, state: yield* DomainEvent.encodeValue(aggregate, "state", aggregate.state, decision.state) }
        : undefined
      const stored = yield* telemetry.append(
        aggregate.name,
        unsaved.length,
        span,
        store.append({
          aggregateType: aggregate.name,
          aggregateId: current.id,
          expectedVersion: current.version,
          events: unsaved,
          state
        })
      )
      const events = stored.map((record, i) => Events.envelopeOf(record, decision.events[i]!))
      if (syncSubscriptions.length > 0) yield* runSync(events, span)
      return { stored, events }
    })

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
        print = yield* Idempotency.fingerprintOf(aggregate, id, command, input, options.fingerprint)
        const existing = yield* store.findIdempotencyRecord(key)
        if (Option.isSome(existing)) return yield* Idempotency.replay(aggregate, existing.value, print)
      }

      const checked = preconditions.length > 0 ? yield* Preconditions.check(preconditions, load) : undefined
      const current = yield* loadAny(aggregate, id)
      const decision = yield* Aggregate.decide(aggregate, current, command, input)
      const version = current.version + decision.events.length
      const appended = decision.events.length > 0
        ? yield* append(aggregate, current, decision, options, span)
        : { stored: [], events: [] }

      if (key !== undefined) {
        yield* Idempotency.save(
          store,
          aggregate,
          { key, print, id, createdAt: yield* Clock.currentTimeMillis },
          { version, state: decision.state, events: appended.stored }
        )
      }
      if (checked !== undefined) yield* Preconditions.assertUnchanged(store, checked)
      return { aggregateId: id, state: decision.state, version, events: appended.events, replayed: false } as AnyResult
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

    const execute: Service["execute"] = (aggregate, id, command, input, options = {}) =>
      telemetry.execute(aggregate.name, id, command, (span) => {
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

    return { execute, load }
  })
