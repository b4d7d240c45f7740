/**
 * Process managers (sagas): long-running processes that react to events by sending commands to
 * aggregates, with compensation and deadlines.
 *
 * A definition is pure like an aggregate: `react(state, input)` returns the new state, the
 * commands to send, the deadlines to set, and maybe an end (complete or compensate). The runtime
 * keeps one instance per correlation id (the saga id), stored as an aggregate of its own in the
 * same transaction as the relay's checkpoint. Commands it sends are events of that instance
 * (written to the events table, the outbox), each executed by the relay in its own transaction
 * with the idempotency key `name:instance:step`, so a redelivered event never executes a command
 * twice; their outcome (`CommandSucceeded` / `CommandRejected`) comes back to `react`.
 * Compensating runs the compensations of the steps that succeeded, in reverse order. Deadlines
 * are stored in the database and delivered when due (`DeadlineReached`).
 *
 * The definition and its transition are pure (this module and `core/internal/processManager`);
 * the functions under "runtime" at the end are what the relay runs them with.
 *
 * @since 0.1.0
 * @module
 */
import type { Duration, Effect, Schedule } from "effect"
import { Schema } from "effect"
import type * as Deadlines from "../ports/Deadlines.js"
import type { EventStore, EventStoreError } from "../ports/EventStore.js"
import type * as Inbox from "../ports/Inbox.js"
import type * as CommandHandler from "../runtime/CommandHandler.js"
import * as DeadlineRuntime from "../runtime/internal/processManager/deadlines.js"
import * as Runtime from "../runtime/internal/processManager/subscriptions.js"
import type * as Aggregate from "./Aggregate.js"
import type * as DomainEvent from "./DomainEvent.js"
import { advanceInstance, instancesOf } from "./internal/processManager/instances.js"
import * as Subscription from "./Subscription.js"

/**
 * A command for an aggregate, with the command that undoes it once it has succeeded.
 *
 * @since 0.1.0
 * @category models
 */
export interface Send {
  readonly aggregate: Aggregate.Any
  readonly id: string
  readonly command: string
  readonly input: unknown
  readonly compensation?: Send | undefined
}

/**
 * A command to send: `ProcessManager.send(Inventory, sku, "reserve", { orderId, quantity },
 * { compensation: ProcessManager.send(Inventory, sku, "release", { orderId }) })`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const send = <A extends Aggregate.Any, K extends Aggregate.CommandName<A>>(
  aggregate: A,
  id: Aggregate.Id<A>,
  command: K,
  input: Aggregate.Input<A, K>,
  options?: { readonly compensation?: Send | undefined }
): Send => ({ aggregate, id, command, input, compensation: options?.compensation })

// --- What a process manager reacts to, beside domain events ---------------------------------------

/**
 * A command the process sent was executed.
 *
 * @since 0.1.0
 * @category inputs
 */
export const CommandSucceeded = Schema.TaggedStruct("CommandSucceeded", {
  step: Schema.Number,
  aggregateType: Schema.String,
  aggregateId: Schema.String,
  command: Schema.String
})
/** @since 0.1.0 @category inputs */
export type CommandSucceeded = typeof CommandSucceeded.Type

/**
 * A command the process sent was refused by its aggregate (a domain error, or the aggregate
 * missing or already existing); `error` names the error's tag and message.
 *
 * @since 0.1.0
 * @category inputs
 */
export const CommandRejected = Schema.TaggedStruct("CommandRejected", {
  step: Schema.Number,
  aggregateType: Schema.String,
  aggregateId: Schema.String,
  command: Schema.String,
  error: Schema.Struct({ _tag: Schema.String, message: Schema.String })
})
/** @since 0.1.0 @category inputs */
export type CommandRejected = typeof CommandRejected.Type

/**
 * A command the process sent was not executed: the process had begun compensating before its
 * turn came (the runtime's own input; `react` does not receive it).
 *
 * @since 0.1.0
 * @category inputs
 */
export const CommandSkipped = Schema.TaggedStruct("CommandSkipped", { step: Schema.Number })
/** @since 0.1.0 @category inputs */
export type CommandSkipped = typeof CommandSkipped.Type

/**
 * A deadline the process set has passed.
 *
 * @since 0.1.0
 * @category inputs
 */
export const DeadlineReached = Schema.TaggedStruct("DeadlineReached", { name: Schema.String })
/** @since 0.1.0 @category inputs */
export type DeadlineReached = typeof DeadlineReached.Type

/**
 * What `react` receives: a domain event it subscribes to, or news about its own commands and
 * deadlines.
 *
 * @since 0.1.0
 * @category models
 */
export type Input<Event> = Event | CommandSucceeded | CommandRejected | DeadlineReached

// --- What react returns -----------------------------------------------------------------------------

/**
 * How a process ends: `complete`, or `compensate` (undo the steps that succeeded, newest
 * first, then send `then`).
 *
 * @since 0.1.0
 * @category models
 */
export type End =
  | { readonly _tag: "Complete" }
  | { readonly _tag: "Compensate"; readonly reason: string; readonly then: ReadonlyArray<Send> }

/**
 * End the process successfully.
 *
 * @since 0.1.0
 * @category constructors
 */
export const complete: End = { _tag: "Complete" }

/**
 * End the process by compensating: the compensations of the steps that succeeded are sent in
 * reverse order, then `then` (e.g. rejecting the order); the process ends as `compensated`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const compensate = (reason: string, options?: { readonly then?: ReadonlyArray<Send> }): End => ({
  _tag: "Compensate",
  reason,
  then: options?.then ?? []
})

/**
 * The outcome of `react`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Reaction<S> {
  readonly state: S
  /** Sent in order, each in its own transaction (not with `compensate`: give its `then`). */
  readonly commands?: ReadonlyArray<Send> | undefined
  /** Set (or move) deadlines by name, `after` the current time. */
  readonly deadlines?: ReadonlyArray<{ readonly name: string; readonly after: Duration.DurationInput }> | undefined
  readonly cancelDeadlines?: ReadonlyArray<string> | undefined
  readonly end?: End | undefined
}

// --- The stored instance ----------------------------------------------------------------------------

/**
 * Where an instance stands. `new`: not started; `running`; `completed`; `compensating`: its
 * compensations are on their way; `compensated`: they (and `then`) have all been executed or
 * refused.
 *
 * @since 0.1.0
 * @category models
 */
export const Status = Schema.Literal("new", "running", "completed", "compensating", "compensated")
/** @since 0.1.0 @category models */
export type Status = typeof Status.Type

/**
 * A command as an instance records it: its target, its name and its encoded input.
 *
 * @since 0.1.0
 * @category models
 */
export const SendRecord = Schema.Struct({
  aggregateType: Schema.String,
  aggregateId: Schema.String,
  command: Schema.String,
  /** The encoded input. */
  input: Schema.Unknown
})
/** @since 0.1.0 @category models */
export type SendRecord = typeof SendRecord.Type

/**
 * A step: one command the process sent and what became of it.
 *
 * @since 0.1.0
 * @category models
 */
export const Step = Schema.Struct({
  step: Schema.Number,
  kind: Schema.Literal("action", "compensation"),
  aggregateType: Schema.String,
  aggregateId: Schema.String,
  command: Schema.String,
  /** `skipped`: an action not yet executed when the process began compensating. */
  outcome: Schema.Literal("pending", "succeeded", "rejected", "skipped"),
  compensation: Schema.optionalWith(SendRecord, { exact: true })
})
/** @since 0.1.0 @category models */
export type Step = typeof Step.Type

const ScheduledDeadline = Schema.Struct({ name: Schema.String, dueAt: Schema.Number })

/**
 * The schemas an instance is stored with, for the schema of its state: the instance itself, and
 * the events it records — it advanced (new status, state and deadlines), it issued a command, a
 * command it issued settled.
 *
 * @since 0.1.0
 * @category models
 */
export const instanceSchemas = <S, SI>(state: Schema.Schema<S, SI>) => {
  const Advanced = Schema.TaggedStruct("ProcessAdvanced", {
    status: Status,
    reason: Schema.optionalWith(Schema.String, { exact: true }),
    state,
    deadlines: Schema.Array(ScheduledDeadline)
  })
  const Issued = Schema.TaggedStruct("CommandIssued", {
    step: Schema.Number,
    kind: Schema.Literal("action", "compensation"),
    aggregateType: Schema.String,
    aggregateId: Schema.String,
    command: Schema.String,
    input: Schema.Unknown,
    compensation: Schema.optionalWith(SendRecord, { exact: true })
  })
  const Settled = Schema.TaggedStruct("CommandSettled", {
    step: Schema.Number,
    outcome: Schema.Literal("succeeded", "rejected", "skipped"),
    error: Schema.optionalWith(Schema.Struct({ _tag: Schema.String, message: Schema.String }), { exact: true })
  })
  const Instance = Schema.Struct({
    status: Status,
    reason: Schema.optionalWith(Schema.String, { exact: true }),
    state,
    steps: Schema.Array(Step),
    deadlines: Schema.Array(ScheduledDeadline)
  })
  return { Instance, Event: Schema.Union(Advanced, Issued, Settled) }
}

/**
 * A process instance as stored.
 *
 * @since 0.1.0
 * @category models
 */
export type Instance<S> = Schema.Schema.Type<ReturnType<typeof instanceSchemas<S, unknown>>["Instance"]>

/**
 * The events an instance is stored as.
 *
 * @since 0.1.0
 * @category models
 */
export type InstanceEvent<S> = Schema.Schema.Type<ReturnType<typeof instanceSchemas<S, unknown>>["Event"]>

/**
 * What the runtime feeds an instance: an input and the time it happens at.
 *
 * @since 0.1.0
 * @category models
 */
export interface Advance<Event> {
  readonly input: Input<Event> | CommandSkipped
  readonly now: number
}

/**
 * A process manager definition.
 *
 * @since 0.1.0
 * @category models
 */
export interface ProcessManager<in out Event extends { readonly _tag: string }, in out S> {
  readonly name: string
  readonly sources: ReadonlyArray<Subscription.Source<unknown>>
  readonly startedBy: ReadonlyArray<string>
  /** The instance an event belongs to; undefined: none. */
  readonly correlate: (event: Event) => string | undefined
  /** The state of a new instance. */
  readonly initial: (id: string) => S
  /** The pure reaction to an input: the new state, commands to send, deadlines, maybe an end. */
  readonly react: (state: S, input: Input<Event>) => Reaction<S>
  /** The aggregates it sends commands to, by name. */
  readonly targets: ReadonlyMap<string, Aggregate.Any>
  readonly partitions: number
  readonly retry: Schedule.Schedule<unknown, unknown>
  /** Its instances, stored as an aggregate named after it. */
  readonly instances: Aggregate.Aggregate<string, string, Instance<S>, InstanceEvent<S>, {
    readonly advance: Aggregate.Command<Instance<S>, InstanceEvent<S>, Advance<Event>, never>
  }>
}

/**
 * Any process manager.
 *
 * @since 0.1.0
 * @category models
 */
export type Any = ProcessManager<any, any>

/**
 * Define a process manager in two steps, like an aggregate: its name, schemas and wiring, then
 * its behaviour (`initial` and the pure `react`).
 *
 * @example
 * The example server's order fulfilment (`examples/http-server/OrderFulfilment.ts`):
 * {@includeCode ../../examples/http-server/OrderFulfilment.ts}
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <const Sources extends ReadonlyArray<Subscription.Source<any>>, S, SI>(options: {
  readonly name: string
  readonly state: Schema.Schema<S, SI>
  /** The events it reacts to. */
  readonly events: Sources
  /** The event tags that start an instance; other events for an instance not started are ignored. */
  readonly startedBy: ReadonlyArray<Subscription.EventOf<Sources[number]>["_tag"]>
  /** The instance an event belongs to (undefined: none). */
  readonly correlate: (event: Subscription.EventOf<Sources[number]>) => string | undefined
  /** The aggregates it sends commands to. */
  readonly sends: ReadonlyArray<Aggregate.Any>
  /** Instances are spread over this many partitions of the relay (default 4). */
  readonly partitions?: number
  /** Retries of a failing delivery before it is dead-lettered (default `Subscription.defaultRetry`). */
  readonly retry?: Schedule.Schedule<unknown, unknown>
}) =>
(behaviour: {
  readonly initial: (id: string) => S
  readonly react: (state: S, input: Input<Subscription.EventOf<Sources[number]>>) => Reaction<S>
}): ProcessManager<Subscription.EventOf<Sources[number]>, S> => {
  const definition: Omit<ProcessManager<Subscription.EventOf<Sources[number]>, S>, "instances"> = {
    name: options.name,
    sources: options.events,
    startedBy: options.startedBy,
    correlate: options.correlate,
    initial: behaviour.initial,
    react: behaviour.react,
    targets: new Map(options.sends.map((aggregate) => [aggregate.name, aggregate])),
    partitions: options.partitions ?? 4,
    retry: options.retry ?? Subscription.defaultRetry
  }
  return { ...definition, instances: instancesOf(definition, options.state) }
}

/**
 * Apply one input to an instance, purely: the instance after it, and the commands it sends
 * (for specs and simulations; the runtime stores the same events).
 *
 * @since 0.1.0
 * @category combinators
 */
export const advance = <Event extends { readonly _tag: string }, S>(
  pm: ProcessManager<Event, S>,
  instance: Instance<S>,
  input: Input<Event>,
  now: number
): { readonly instance: Instance<S>; readonly sent: ReadonlyArray<Step & { readonly input: unknown }> } =>
  advanceInstance(pm, instance, input, now)

// --- The runtime ------------------------------------------------------------------------------------

/**
 * What the relay needs to run a process manager's subscriptions.
 *
 * @since 0.1.0
 * @category runtime
 */
export type Requirements = CommandHandler.CommandHandler | Deadlines.Deadlines | Inbox.Inbox

/**
 * How a delivery to a process manager's subscriptions fails (and is retried): the store failed,
 * or a command could not be executed for a reason other than its aggregate refusing it.
 *
 * @since 0.1.0
 * @category runtime
 */
export type DeliveryError =
  | CommandHandler.InfrastructureError
  | Aggregate.AggregateNotFound
  | Aggregate.AggregateAlreadyExists

/**
 * An instance's record of a command it sent, as its dispatcher delivers it.
 *
 * @since 0.1.0
 * @category runtime
 */
export type Issued<S> = Extract<InstanceEvent<S>, { readonly _tag: "CommandIssued" }>

/**
 * The relay subscription that feeds the events a process manager reacts to into its instances
 * (each event once: an inbox row commits with the instance).
 *
 * @since 0.1.0
 * @category runtime
 */
export const reactions: <Event extends { readonly _tag: string }, S>(
  pm: ProcessManager<Event, S>
) => Subscription.Subscription<Event, DeliveryError, Requirements> = Runtime.reactions

/**
 * The relay subscription that executes the commands a process manager sends, in order per
 * instance, each with the idempotency key `name:instance:step`, and reports their outcome back.
 *
 * @since 0.1.0
 * @category runtime
 */
export const dispatcher: <Event extends { readonly _tag: string }, S>(
  pm: ProcessManager<Event, S>
) => Subscription.Subscription<Issued<S>, DeliveryError, Requirements> = Runtime.dispatcher

/**
 * The relay subscriptions that run a process manager: its reactions and its command dispatcher
 * (`Relay.layer({ processManagers })` runs them, with the deadlines).
 *
 * @since 0.1.0
 * @category runtime
 */
export const subscriptions: <Event extends { readonly _tag: string }, S>(
  pm: ProcessManager<Event, S>
) => readonly [
  Subscription.Subscription<Event, DeliveryError, Requirements>,
  Subscription.Subscription<Issued<S>, DeliveryError, Requirements>
] = Runtime.subscriptions

/**
 * Deliver the deadlines of a process manager that are due now (at most `limit`), each in a
 * transaction that first claims it, retried under the process manager's schedule; returns how
 * many were due.
 *
 * @since 0.1.0
 * @category runtime
 */
export const deliverDueDeadlines: (
  pm: Any,
  limit?: number
) => Effect.Effect<number, never, EventStore | Deadlines.Deadlines | CommandHandler.CommandHandler> =
  DeadlineRuntime.deliverDue

/**
 * Deliver a process manager's deadlines when due, each once even with several processes. Wakes
 * when the next deadline is due, after each commit of its instances (which may set a sooner one)
 * and at least every `pollInterval` (default 1 second); uses `Clock`, so `TestClock` drives it in
 * tests. The relay runs it for the process managers it is given.
 *
 * @since 0.1.0
 * @category runtime
 */
export const runDeadlines: (
  pm: Any,
  options?: { readonly pollInterval?: Duration.DurationInput; readonly batchSize?: number }
) => Effect.Effect<never, never, EventStore | Deadlines.Deadlines | CommandHandler.CommandHandler> = DeadlineRuntime.run

/**
 * The current instance of a process manager (status `new` when it never started).
 *
 * @since 0.1.0
 * @category accessors
 */
export const load = <Event extends { readonly _tag: string }, S>(
  pm: ProcessManager<Event, S>,
  instanceId: string
): Effect.Effect<Instance<S>, EventStoreError | DomainEvent.EventDecodeError, CommandHandler.CommandHandler> =>
  Runtime.load(pm, instanceId)
