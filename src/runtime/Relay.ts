/**
 * The relay: a scoped background layer that delivers the event log to async subscriptions.
 *
 * Per subscription and partition (a hash of the aggregate id modulo the partition count) one
 * worker holds a lease, reads after its checkpoint in commit-safe order and delivers in order;
 * the handlers' database effects and the checkpoint commit in one transaction, so effects in the
 * same database happen exactly once. A failing delivery is retried under the subscription's
 * `Schedule`, then dead-lettered; later events of that aggregate are parked behind it (its order
 * holds) while other aggregates go on. An undecodable payload is poison: dead-lettered at once.
 * Redrive and discard act on dead letters; the partition's owner performs a redrive, in order.
 *
 * `examples/subscriptions.ts`, an order reserving stock and confirmed through two subscriptions:
 * {@includeCode ../../examples/subscriptions.ts}
 *
 * @since 0.1.0
 * @module
 */
import { Clock, Context, Duration, Effect, Layer, Option, Schedule, Schema, type Scope } from "effect"
import * as ProcessManager from "../core/ProcessManager.js"
import * as Subscription from "../core/Subscription.js"
import * as Instrumentation from "../operations/internal/instrumentation.js"
import * as Telemetry from "../operations/Telemetry.js"
import * as Checkpoints from "../ports/Checkpoints.js"
import * as DeadLetters from "../ports/DeadLetters.js"
import type { Deadlines } from "../ports/Deadlines.js"
import { EventStore, type EventStoreError } from "../ports/EventStore.js"
import * as IdGenerator from "../ports/IdGenerator.js"
import type { Inbox } from "../ports/Inbox.js"
import { ProjectionVersions } from "../ports/ProjectionVersions.js"
import { Pruning } from "../ports/Pruning.js"
import { SubscriptionRegistry } from "../ports/SubscriptionRegistry.js"
import type * as CommandHandler from "./CommandHandler.js"
import * as CommitSignal from "./internal/commitSignal.js"
import * as Engine from "./internal/delivery/context.js"
import * as Projections from "./internal/delivery/projections.js"
import * as Redrive from "./internal/delivery/redrive.js"
import * as Worker from "./internal/delivery/worker.js"

/**
 * The stores a relay reads and writes beside the event store: checkpoints and leases, dead
 * letters, the registry of subscriptions, projections' versions, and (for process managers) the
 * inbox and deadlines. The memory and SQL adapters provide them all.
 *
 * @since 0.1.0
 * @category models
 */
export type Stores =
  | Checkpoints.Checkpoints
  | DeadLetters.DeadLetters
  | Deadlines
  | Inbox
  | SubscriptionRegistry
  | ProjectionVersions

/**
 * A redrive did not finish in time (the partition's owner may be busy or gone).
 *
 * @since 0.1.0
 * @category errors
 */
export class RedriveTimeout extends Schema.TaggedError<RedriveTimeout>()("RedriveTimeout", { id: Schema.String }) {
  override get message() {
    return `redrive of dead letter ${this.id} did not finish in time`
  }
}

/**
 * What became of one dead letter of a redriven sequence: `delivered`; `failed` again after the
 * subscription's retry schedule ran out (with its error and the attempts of all its deliveries);
 * or `parked`, not tried because one before it failed again.
 *
 * @since 0.1.0
 * @category models
 */
export type RedriveOutcome =
  & {
    /** The dead letter's id. */
    readonly id: string
    readonly eventId: string
    readonly eventType: string
    readonly version: number
  }
  & (
    | { readonly outcome: "delivered" }
    | { readonly outcome: "failed"; readonly error: string; readonly attempts: number }
    | { readonly outcome: "parked" }
  )

/**
 * What a redrive did: each dead letter of the aggregate's sequence, in version order, and the dead
 * letters still left for the aggregate (none when every one was delivered).
 *
 * @since 0.1.0
 * @category models
 */
export interface RedriveResult {
  readonly events: ReadonlyArray<RedriveOutcome>
  readonly remaining: ReadonlyArray<DeadLetters.DeadLetter>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options<S extends Subscription.Any, P extends ProcessManager.Any = never> {
  readonly subscriptions: ReadonlyArray<S>
  /** Process managers to run: their reactions, their commands and their deadlines. */
  readonly processManagers?: ReadonlyArray<P>
  /** Most events read and committed at once per partition (default 500). */
  readonly batchSize?: number
  /** Fallback polling when no wake-up arrives (default 1 second). */
  readonly pollInterval?: Duration.DurationInput
  /** How long a lease lasts without renewal (default 10 seconds); renewed every third of it. */
  readonly leaseTtl?: Duration.DurationInput
  /** This process's name in leases (default: a random id). */
  readonly owner?: string
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** The relay's owner name in leases. */
  readonly owner: string
  /**
   * Redeliver a dead letter's aggregate sequence (the failed event and those parked behind it),
   * in order, each under the subscription's retry schedule as in a first delivery; resolves with
   * what became of each one and the dead letters still left for that aggregate.
   */
  readonly redrive: (
    id: string,
    options?: { readonly timeout?: Duration.DurationInput }
  ) => Effect.Effect<
    RedriveResult,
    DeadLetters.DeadLetterNotFound | RedriveTimeout | EventStoreError
  >
  /** Drop a dead letter without delivering it. */
  readonly discard: (id: string) => Effect.Effect<void, DeadLetters.DeadLetterNotFound | EventStoreError>
  /** Dead letters matching a filter, by position. */
  readonly deadLetters: (
    filter?: DeadLetters.Filter
  ) => Effect.Effect<ReadonlyArray<DeadLetters.DeadLetter>, EventStoreError>
  /** Stop delivering (checkpoints stay where they are) until `resume`. */
  readonly pause: Effect.Effect<void>
  readonly resume: Effect.Effect<void>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class Relay extends Context.Tag("effect-ddd/Relay")<Relay, Service>() {}

/**
 * Run the relay for some subscriptions while the layer's scope is open.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <S extends Subscription.Any, P extends ProcessManager.Any = never>(
  options: Options<S, P>
): Layer.Layer<
  Relay,
  never,
  EventStore | Stores | Subscription.Requirements<S> | ProcessManagerRequirements<P>
> => Layer.scoped(Relay, make(options))

/**
 * What running process managers needs beside the stores: the command handler, when there are any.
 *
 * @since 0.1.0
 * @category models
 */
export type ProcessManagerRequirements<P> = [P] extends [never] ? never : CommandHandler.CommandHandler

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = <S extends Subscription.Any, P extends ProcessManager.Any = never>(
  options: Options<S, P>
): Effect.Effect<
  Service,
  never,
  EventStore | Stores | Subscription.Requirements<S> | ProcessManagerRequirements<P> | Scope.Scope
> =>
  Effect.gen(function*() {
    const engine: Engine.Engine = {
      store: yield* EventStore,
      checkpoints: yield* Checkpoints.Checkpoints,
      deadLetters: yield* DeadLetters.DeadLetters,
      signal: yield* CommitSignal.CommitSignal,
      telemetry: Instrumentation.relayHooks(yield* Telemetry.Enabled),
      driver: yield* Engine.CurrentDriver,
      owner: options.owner ?? `relay-${(yield* IdGenerator.next).replaceAll("-", "")}`,
      batchSize: options.batchSize ?? 500,
      pollMillis: Duration.toMillis(options.pollInterval ?? "1 second"),
      leaseTtlMillis: Duration.toMillis(options.leaseTtl ?? "10 seconds"),
      deadLettersChanged: { value: 0 },
      running: Engine.makeSwitch()
    }
    const processManagers = options.processManagers ?? []
    const asyncSubscriptions = [
      ...options.subscriptions,
      ...processManagers.flatMap((pm) => ProcessManager.subscriptions(pm))
    ].filter((s) => s.mode === "async")
    const plain = asyncSubscriptions.filter((s) => s.versions === undefined).map(engine.driver.instrument)

    yield* register(plain)
    for (const subscription of plain) {
      for (let index = 0; index < subscription.partitions; index++) {
        yield* Effect.forkScoped(Worker.run(engine, Engine.partition(subscription, index)))
      }
    }
    // projections: each version delivered as a subscription of its own, under a supervisor
    const registry = yield* SubscriptionRegistry
    const projectionStores: Projections.Stores = {
      versions: yield* ProjectionVersions,
      pruning: yield* Effect.serviceOption(Pruning),
      register: (subscription) =>
        registration(registry, subscription).pipe(
          Effect.catchAll((error) => Effect.logWarning(`relay could not register ${subscription.name}`, error))
        ),
      unregister: registry.unregister
    }
    for (const projection of asyncSubscriptions.filter((s) => s.versions !== undefined)) {
      yield* Effect.forkScoped(Projections.supervise(engine, projectionStores, projection))
    }
    for (const pm of processManagers) {
      // only forked when there are process managers, which then require the command handler
      yield* Effect.forkScoped(
        ProcessManager.runDeadlines(pm, { pollInterval: options.pollInterval ?? "1 second" }) as Effect.Effect<
          never,
          never,
          ProcessManagerRequirements<P>
        >
      )
    }
    return service(engine)
  })

/** Record one subscription in the registry. */
const registration = (registry: SubscriptionRegistry["Type"], subscription: Subscription.Any) =>
  Effect.flatMap(Clock.currentTimeMillis, (now) =>
    registry.register({
      name: subscription.name,
      kind: subscription.kind,
      partitions: subscription.partitions,
      sources: Subscription.logFilter(subscription).sources ?? [],
      registeredAt: now
    }))

/** Record the subscriptions, for the tools that measure and replay them from outside (the CLI). */
const register = (subscriptions: ReadonlyArray<Subscription.Any>) =>
  Effect.flatMap(
    SubscriptionRegistry,
    (registry) =>
      Effect.forEach(subscriptions, (subscription) => registration(registry, subscription), { discard: true }).pipe(
        Effect.tapError((error) => Effect.logWarning("relay could not register its subscriptions, retrying", error)),
        Effect.retry(Schedule.spaced("1 second")),
        Effect.forkScoped
      )
  )

/** The relay's operations on dead letters, and its pause switch. */
const service = (engine: Engine.Engine): Service => {
  const { deadLetters, signal, store } = engine
  /** A redrive ends when the partition's owner has settled every letter it marked. */
  const settled = (filter: DeadLetters.Filter): Effect.Effect<ReadonlyArray<DeadLetters.DeadLetter>, EventStoreError> =>
    Effect.flatMap(
      deadLetters.list(filter),
      (letters) =>
        letters.every((l) => l.status === "open")
          ? Effect.succeed(letters)
          : Effect.zipRight(Effect.sleep("20 millis"), settled(filter))
    )
  return {
    owner: engine.owner,
    redrive: (id, redriveOptions) =>
      Effect.gen(function*() {
        const letter = yield* deadLetters.get(id)
        if (Option.isNone(letter)) return yield* new DeadLetters.DeadLetterNotFound({ id })
        const { aggregateId, aggregateType, subscription } = letter.value
        // the whole sequence of the aggregate is redelivered: mark it all, so the wait below ends
        // only when every one of them is delivered or back to open
        const filter = { subscription, aggregateType, aggregateId }
        const sequence = yield* deadLetters.list(filter)
        yield* store.withTransaction(
          Effect.forEach(sequence, (l) => deadLetters.setStatus(l.id, "redrive"), { discard: true })
        )
        yield* Effect.logInfo(
          `${subscription}: redrive of ${sequence.length} dead letter(s) of ${aggregateType}/${aggregateId} requested`
        ).pipe(Effect.annotateLogs({ subscription, deadLetter: id, ...Redrive.annotations(letter.value) }))
        engine.deadLettersChanged.value++
        yield* signal.notify
        const remaining = yield* settled(filter).pipe(
          Effect.timeoutFail({
            duration: redriveOptions?.timeout ?? "30 seconds",
            onTimeout: () => new RedriveTimeout({ id })
          })
        )
        return { events: Redrive.outcomes(sequence, remaining), remaining }
      }),
    discard: (id) =>
      Effect.flatMap(
        deadLetters.get(id),
        (letter): Effect.Effect<void, DeadLetters.DeadLetterNotFound | EventStoreError> =>
          Option.isNone(letter)
            ? Effect.fail(new DeadLetters.DeadLetterNotFound({ id }))
            : deadLetters.remove([id]).pipe(
              Effect.zipRight(Effect.sync(() => engine.deadLettersChanged.value++)),
              Effect.zipRight(
                Effect.logInfo(
                  `${letter.value.subscription}: dead letter ${id} (${letter.value.eventType} of ${letter.value.aggregateType}/${letter.value.aggregateId}) discarded`
                ).pipe(Effect.annotateLogs({
                  subscription: letter.value.subscription,
                  deadLetter: id,
                  ...Redrive.annotations(letter.value)
                }))
              )
            )
      ),
    deadLetters: (filter = {}) => deadLetters.list(filter),
    pause: engine.running.off,
    resume: Effect.zipRight(engine.running.on, signal.notify)
  }
}
