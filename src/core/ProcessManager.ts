/**
 * Process managers (sagas): long-running processes that react to events by sending commands to
 * aggregates, with compensation and deadlines.
 *
 * A definition is pure like an aggregate: `react(state, input)` returns the new state, the
 * commands to send, the deadlines to set, and maybe an end (complete or compensate). The runtime
 * keeps one instance per correlation id (the saga id), stored as an aggregate of its own in the
 * same transaction as the relay's checkpoint. Commands it sends are events of that instance
 * (the outbox), each executed by the relay in its own transaction with the idempotency key
 * `name:instance:step`, so a redelivered event never executes a command twice; their outcome
 * (`CommandSucceeded` / `CommandRejected`) comes back to `react`. Compensating runs the
 * compensations of the steps that succeeded, in reverse order. Deadlines are stored in the
 * database and delivered when due (`DeadlineReached`).
 *
 * @since 0.1.0
 * @module
 */
import type { Schedule } from "effect"
import { Clock, Duration, Effect, Either, Option, Schema } from "effect"
import { EventStore, type EventStoreError } from "../ports/EventStore.js"
import * as Outbox from "../ports/Outbox.js"
import * as CommandHandler from "../runtime/CommandHandler.js"
import * as CommitSignal from "../runtime/CommitSignal.js"
import * as Aggregate from "./Aggregate.js"
import type * as DomainEvent from "./DomainEvent.js"
import * as Subscription from "./Subscription.js"

// --- What a process manager sends -----------------------------------------------------------------

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

const Step = Schema.Struct({
  step: Schema.Number,
  kind: Schema.Literal("action", "compensation"),
  aggregateType: Schema.String,
  aggregateId: Schema.String,
  command: Schema.String,
  /** `skipped`: an action not yet executed when the process began compensating. */
  outcome: Schema.Literal("pending", "succeeded", "rejected", "skipped"),
  compensation: Schema.optionalWith(SendRecord, { exact: true })
})

/**
 * A step: one command the process sent and what became of it.
 *
 * @since 0.1.0
 * @category models
 */
export type Step = typeof Step.Type

const ScheduledDeadline = Schema.Struct({ name: Schema.String, dueAt: Schema.Number })

/**
 * A process instance as stored.
 *
 * @since 0.1.0
 * @category models
 */
export interface Instance<S> {
  readonly status: Status
  /** Why it compensated. */
  readonly reason?: string
  readonly state: S
  readonly steps: ReadonlyArray<Step>
  readonly deadlines: ReadonlyArray<{ readonly name: string; readonly dueAt: number }>
}

const instanceSchemas = <S, SI>(state: Schema.Schema<S, SI>) => {
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
  const Event = Schema.Union(Advanced, Issued, Settled)
  const Instance = Schema.Struct({
    status: Status,
    reason: Schema.optionalWith(Schema.String, { exact: true }),
    state,
    steps: Schema.Array(Step),
    deadlines: Schema.Array(ScheduledDeadline)
  })
  return { Advanced, Issued, Settled, Event, Instance }
}

/**
 * The events an instance is stored as: it advanced (new status, state and deadlines), it issued a
 * command, a command it issued settled.
 *
 * @since 0.1.0
 * @category models
 */
export type InstanceEvent<S> =
  | {
    readonly _tag: "ProcessAdvanced"
    readonly status: Status
    readonly reason?: string
    readonly state: S
    readonly deadlines: ReadonlyArray<{ readonly name: string; readonly dueAt: number }>
  }
  | {
    readonly _tag: "CommandIssued"
    readonly step: number
    readonly kind: "action" | "compensation"
    readonly aggregateType: string
    readonly aggregateId: string
    readonly command: string
    readonly input: unknown
    readonly compensation?: SendRecord
  }
  | {
    readonly _tag: "CommandSettled"
    readonly step: number
    readonly outcome: "succeeded" | "rejected" | "skipped"
    readonly error?: { readonly _tag: string; readonly message: string }
  }

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

// --- The definition ---------------------------------------------------------------------------------

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
  type Event = Subscription.EventOf<Sources[number]>
  const schemas = instanceSchemas(options.state)
  const definition = {
    name: options.name,
    sources: options.events,
    startedBy: options.startedBy,
    correlate: options.correlate,
    initial: behaviour.initial,
    react: behaviour.react,
    targets: new Map(options.sends.map((aggregate) => [aggregate.name, aggregate])),
    partitions: options.partitions ?? 4,
    retry: options.retry ?? Subscription.defaultRetry
  } as Omit<ProcessManager<Event, S>, "instances">
  const instances = Aggregate.make({
    name: options.name,
    id: Schema.String,
    state: schemas.Instance as unknown as Schema.Schema<Instance<S>, any>,
    events: schemas.Event as unknown as Schema.Schema<InstanceEvent<S>, any>
  })({
    initial: (id) => ({ status: "new", state: behaviour.initial(id), steps: [], deadlines: [] }),
    evolve: {
      ProcessAdvanced: (instance, e) => {
        const next: Instance<S> = { ...instance, status: e.status, state: e.state, deadlines: e.deadlines }
        return e.reason === undefined ? next : { ...next, reason: e.reason }
      },
      CommandIssued: (instance, e) => ({
        ...instance,
        steps: [...instance.steps, {
          step: e.step,
          kind: e.kind,
          aggregateType: e.aggregateType,
          aggregateId: e.aggregateId,
          command: e.command,
          outcome: "pending" as const,
          ...(e.compensation === undefined ? {} : { compensation: e.compensation })
        }]
      }),
      CommandSettled: (instance, e) => ({
        ...instance,
        steps: instance.steps.map((s) => (s.step === e.step ? { ...s, outcome: e.outcome } : s))
      })
    }
  }).command("advance", {
    expects: "any",
    input: Schema.Any as Schema.Schema<Advance<Event>>,
    decide: (instance, advance) => transition(definition, instance, advance)
  })
  return { ...definition, instances }
}

// --- The pure transition ----------------------------------------------------------------------------

/** Thrown (a defect) when a process sends to an aggregate or command it did not declare. */
const record = (pm: Pick<Any, "name" | "targets">, send: Send): SendRecord => {
  const target = pm.targets.get(send.aggregate.name)
  const command = target?.commands[send.command]
  if (target === undefined || command === undefined) {
    throw new Error(
      `process manager ${pm.name} sends ${send.aggregate.name}.${send.command}, which is not among its \`sends\``
    )
  }
  return {
    aggregateType: send.aggregate.name,
    aggregateId: send.id,
    command: send.command,
    input: Schema.encodeSync(command.input as Schema.Schema<unknown, unknown>)(send.input)
  }
}

const isSettlement = (input: { readonly _tag: string }): input is CommandSucceeded | CommandRejected =>
  input._tag === "CommandSucceeded" || input._tag === "CommandRejected"

const isSkip = (input: { readonly _tag: string }): input is CommandSkipped => input._tag === "CommandSkipped"

const isDeadline = (input: { readonly _tag: string }): input is DeadlineReached => input._tag === "DeadlineReached"

/**
 * The events an instance records for one input: the step settled, the reaction (new state,
 * deadlines, status), the commands it sends. Pure: `now` is given.
 */
const transition = <Event extends { readonly _tag: string }, S>(
  pm: Omit<ProcessManager<Event, S>, "instances">,
  instance: Instance<S>,
  { input: received, now }: Advance<Event>
): Either.Either<ReadonlyArray<InstanceEvent<S>>, never> => {
  // the runtime's own inputs (their tags are reserved)
  const input = received as CommandSucceeded | CommandRejected | CommandSkipped | DeadlineReached | Event
  const events: Array<InstanceEvent<S>> = []
  let steps = instance.steps
  let nextStep = steps.length + 1
  const issue = (record: SendRecord, kind: "action" | "compensation", compensation?: SendRecord) => {
    const issued: InstanceEvent<S> = {
      _tag: "CommandIssued",
      step: nextStep++,
      kind,
      ...record,
      ...(compensation === undefined ? {} : { compensation })
    }
    events.push(issued)
    steps = [...steps, {
      step: issued.step,
      kind,
      aggregateType: record.aggregateType,
      aggregateId: record.aggregateId,
      command: record.command,
      outcome: "pending",
      ...(compensation === undefined ? {} : { compensation })
    }]
  }
  const advanced = (status: Status, state: S, deadlines: Instance<S>["deadlines"], reason?: string) =>
    events.push({ _tag: "ProcessAdvanced", status, state, deadlines, ...(reason === undefined ? {} : { reason }) })
  // ended instances only finish their compensation
  const settleCompensation = () => {
    if (instance.status === "compensating" && steps.every((s) => s.outcome !== "pending")) {
      advanced("compensated", instance.state, [], instance.reason)
    }
  }

  if (isSkip(input)) {
    const step = steps.find((s) => s.step === input.step)
    if (step === undefined || step.outcome !== "pending") return Either.right([])
    events.push({ _tag: "CommandSettled", step: input.step, outcome: "skipped" })
    steps = steps.map((s) => (s.step === input.step ? { ...s, outcome: "skipped" as const } : s))
    settleCompensation()
    return Either.right(events)
  }
  if (isSettlement(input)) {
    const step = steps.find((s) => s.step === input.step)
    if (step === undefined || step.outcome !== "pending") return Either.right([])
    const outcome = input._tag === "CommandSucceeded" ? "succeeded" as const : "rejected" as const
    events.push({
      _tag: "CommandSettled",
      step: input.step,
      outcome,
      ...(input._tag === "CommandRejected" ? { error: input.error } : {})
    })
    steps = steps.map((s) => (s.step === input.step ? { ...s, outcome } : s))
    if (instance.status !== "running") {
      // a step that succeeded after the process began compensating is undone at once
      if (
        outcome === "succeeded" && step.kind === "action" && step.compensation !== undefined &&
        (instance.status === "compensating" || instance.status === "compensated")
      ) issue(step.compensation, "compensation")
      settleCompensation()
      return Either.right(events)
    }
  } else if (isDeadline(input)) {
    if (instance.status !== "running" || !instance.deadlines.some((d) => d.name === input.name)) return Either.right([])
  } else if (instance.status === "new") {
    if (!pm.startedBy.includes(input._tag)) return Either.right([])
  } else if (instance.status !== "running") {
    return Either.right([])
  }

  const reaction = pm.react(instance.state, received as Input<Event>)
  const fired = isDeadline(input) ? [input.name] : []
  const dropped = new Set([...fired, ...(reaction.cancelDeadlines ?? [])])
  const set = (reaction.deadlines ?? []).map((d) => ({ name: d.name, dueAt: now + Duration.toMillis(d.after) }))
  const deadlines = [
    ...instance.deadlines.filter((d) => !dropped.has(d.name) && !set.some((s) => s.name === d.name)),
    ...set
  ]
  const end = reaction.end
  if (end === undefined) {
    advanced("running", reaction.state, deadlines)
    for (const send of reaction.commands ?? []) {
      issue(record(pm, send), "action", send.compensation && record(pm, send.compensation))
    }
  } else if (end._tag === "Complete") {
    advanced("completed", reaction.state, [])
    for (const send of reaction.commands ?? []) issue(record(pm, send), "action")
  } else {
    const index = events.length
    advanced("compensating", reaction.state, [], end.reason)
    const done = steps.filter((s) => s.kind === "action" && s.outcome === "succeeded" && s.compensation !== undefined)
    for (const step of done.reverse()) issue(step.compensation!, "compensation")
    for (const send of end.then) issue(record(pm, send), "compensation")
    if (steps.every((s) => s.outcome !== "pending")) {
      events[index] = {
        _tag: "ProcessAdvanced",
        status: "compensated",
        state: reaction.state,
        deadlines: [],
        reason: end.reason
      }
    }
  }
  return Either.right(events)
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
): { readonly instance: Instance<S>; readonly sent: ReadonlyArray<Step & { readonly input: unknown }> } => {
  const decided = Aggregate.decide(pm.instances, { id: "", state: instance, version: 1 }, "advance", { input, now })
  if (Either.isLeft(decided)) return { instance, sent: [] }
  const sent = decided.right.events.flatMap((e) =>
    e._tag === "CommandIssued"
      ? [{
        step: e.step,
        kind: e.kind,
        aggregateType: e.aggregateType,
        aggregateId: e.aggregateId,
        command: e.command,
        input: e.input,
        outcome: "pending" as const,
        ...(e.compensation === undefined ? {} : { compensation: e.compensation })
      }]
      : []
  )
  return { instance: decided.right.state, sent }
}

// --- The runtime ------------------------------------------------------------------------------------

const infrastructureErrors = new Set([
  "EventStoreError",
  "ConcurrencyConflict",
  "EventDecodeError",
  "EncodeError",
  "SubscriptionFailed",
  "IdempotencyKeyReused"
])

const tagOf = (error: unknown): string =>
  typeof error === "object" && error !== null && "_tag" in error ? String((error as { _tag: unknown })._tag) : "Error"

const messageOf = (error: unknown): string =>
  error instanceof Error ? error.message : typeof error === "object" && error !== null && "message" in error
    ? String((error as { message: unknown }).message)
    : String(error)

type Metadata = NonNullable<CommandHandler.ExecuteOptions["metadata"]>

const causedBy = (envelope: DomainEvent.Envelope<unknown>): Metadata => ({
  correlationId: envelope.metadata.correlationId,
  causationId: envelope.eventId,
  traceparent: envelope.metadata.traceparent,
  tracestate: envelope.metadata.tracestate
})

/**
 * Feed an input to an instance in the ambient transaction, and keep its deadlines in step.
 */
const feed = <Event extends { readonly _tag: string }, S>(
  pm: ProcessManager<Event, S>,
  instanceId: string,
  input: Input<Event> | CommandSkipped,
  metadata?: Metadata
) =>
  Effect.gen(function*() {
    const handler = yield* CommandHandler.CommandHandler
    const outbox = yield* Outbox.Outbox
    const now = yield* Clock.currentTimeMillis
    const result = yield* handler.execute(
      pm.instances,
      instanceId,
      "advance",
      { input, now },
      metadata ? { metadata } : {}
    )
    if (result.events.some((e) => e.payload._tag === "ProcessAdvanced")) {
      yield* outbox.setDeadlines(pm.name, instanceId, result.state.deadlines)
    }
  })

/**
 * The subscription that feeds the events a process manager reacts to into its instances.
 *
 * @since 0.1.0
 * @category subscriptions
 */
export const reactions = <Event extends { readonly _tag: string }, S>(
  pm: ProcessManager<Event, S>
): Subscription.Subscription<
  Event,
  CommandHandler.ExecuteError<ProcessManager<Event, S>["instances"], "advance">,
  CommandHandler.CommandHandler | Outbox.Outbox
> =>
  Subscription.make({
    name: pm.name,
    events: pm.sources as ReadonlyArray<Subscription.Source<Event>>,
    partitions: pm.partitions,
    retry: pm.retry,
    handle: (event, envelope) => {
      const instanceId = pm.correlate(event)
      if (instanceId === undefined) return Effect.void
      // an event delivered twice (e.g. replayed) is fed once: the inbox row commits with the instance
      return Effect.flatMap(Outbox.Outbox, (outbox) =>
        Effect.flatMap(
          outbox.markProcessed(pm.name, envelope.eventId),
          (first) => first ? feed(pm, instanceId, event, causedBy(envelope)) : Effect.void
        ))
    }
  })

/**
 * The subscription that executes the commands a process manager sends, in order per instance,
 * each with the idempotency key `name:instance:step`, and reports their outcome back to it.
 *
 * @since 0.1.0
 * @category subscriptions
 */
export const dispatcher = <Event extends { readonly _tag: string }, S>(pm: ProcessManager<Event, S>) =>
  Subscription.make({
    name: `${pm.name}.commands`,
    events: [Subscription.on(pm.instances, "CommandIssued")],
    partitions: pm.partitions,
    retry: pm.retry,
    // each command in a transaction of its own (with the checkpoint and the step's outcome)
    batchSize: 1,
    handle: (issued, envelope) =>
      Effect.gen(function*() {
        const handler = yield* CommandHandler.CommandHandler
        const target = pm.targets.get(issued.aggregateType)
        const command = target?.commands[issued.command]
        const about = {
          step: issued.step,
          aggregateType: issued.aggregateType,
          aggregateId: issued.aggregateId,
          command: issued.command
        }
        // delivered again after its outcome was recorded (a rejection leaves no idempotency record,
        // and the aggregate may accept the command now): nothing to do
        const instance = yield* handler.load(pm.instances, envelope.aggregateId)
        if (instance.state.steps.find((s) => s.step === issued.step)?.outcome !== "pending") return
        // compensation has begun: actions not yet executed are not started any more
        const { status } = instance.state
        if (issued.kind === "action" && (status === "compensating" || status === "compensated")) {
          return yield* feed(pm, envelope.aggregateId, CommandSkipped.make({ step: issued.step }), causedBy(envelope))
        }
        const reject = (error: { readonly _tag: string; readonly message: string }) =>
          feed(pm, envelope.aggregateId, CommandRejected.make({ ...about, error }), causedBy(envelope))
        if (target === undefined || command === undefined) {
          return yield* reject({
            _tag: "UnknownCommand",
            message: `${issued.aggregateType}.${issued.command} is not sent by ${pm.name}`
          })
        }
        const input = Schema.decodeUnknownEither(command.input as Schema.Schema<unknown, unknown>)(issued.input)
        if (Either.isLeft(input)) return yield* reject({ _tag: "InvalidInput", message: input.left.message })
        const executed = yield* Effect.either(handler.execute(target, issued.aggregateId, issued.command, input.right, {
          idempotencyKey: `${pm.name}:${envelope.aggregateId}:${issued.step}`,
          metadata: causedBy(envelope)
        }))
        if (Either.isLeft(executed)) {
          const error = executed.left
          if (infrastructureErrors.has(tagOf(error))) return yield* Effect.fail(error)
          return yield* reject({ _tag: tagOf(error), message: messageOf(error) })
        }
        yield* feed(pm, envelope.aggregateId, CommandSucceeded.make(about), causedBy(envelope))
      })
  })

/**
 * The relay subscriptions that run a process manager: its reactions and its command dispatcher.
 * Pass them to `Relay.layer` with `ProcessManager.deadlines` beside it.
 *
 * @since 0.1.0
 * @category subscriptions
 */
export const subscriptions = (
  pm: Any
): readonly [ReturnType<typeof reactions<any, any>>, ReturnType<typeof dispatcher<any, any>>] => [
  reactions(pm),
  dispatcher(pm)
]

/**
 * Deliver the deadlines of a process manager that are due now (at most `limit`), each in a
 * transaction that first claims it; returns how many were due. `runDeadlines` repeats it; a
 * simulation calls it when it moves the clock.
 *
 * @since 0.1.0
 * @category runtime
 */
export const deliverDueDeadlines = (
  pm: Any,
  limit = 100
): Effect.Effect<number, unknown, EventStore | Outbox.Outbox | CommandHandler.CommandHandler> =>
  Effect.gen(function*() {
    const store = yield* EventStore
    const outbox = yield* Outbox.Outbox
    const now = yield* Clock.currentTimeMillis
    const due = yield* outbox.dueDeadlines(pm.name, now, limit)
    for (const deadline of due) {
      yield* store.withTransaction(Effect.gen(function*() {
        if (yield* outbox.claimDeadline(deadline)) {
          yield* feed(pm, deadline.instanceId, DeadlineReached.make({ name: deadline.name }))
        }
      }))
    }
    return due.length
  })

/**
 * Deliver a process manager's deadlines when due, each in a transaction that first claims it, so
 * it is delivered once even with several processes. Wakes when the next deadline is due, after
 * each commit (which may set a sooner one) and at least every `pollInterval` (default 1 second);
 * uses `Clock`, so `TestClock` drives it in tests.
 *
 * @since 0.1.0
 * @category runtime
 */
export const runDeadlines = (
  pm: Any,
  options?: { readonly pollInterval?: Duration.DurationInput; readonly batchSize?: number }
): Effect.Effect<never, never, EventStore | Outbox.Outbox | CommandHandler.CommandHandler> =>
  Effect.gen(function*() {
    const outbox = yield* Outbox.Outbox
    const poll = Duration.toMillis(options?.pollInterval ?? "1 second")
    const batchSize = options?.batchSize ?? 100
    const deliverDue = deliverDueDeadlines(pm, batchSize)
    const signal = yield* CommitSignal.CommitSignal
    const instanceCommits: CommitSignal.Interest = { sources: [{ aggregateType: pm.instances.name }] }
    while (true) {
      // a commit of an instance may set a deadline sooner than the one slept for: wake on those too
      const commit = yield* signal.nextOf(instanceCommits)
      const delivered = yield* deliverDue.pipe(
        Effect.catchAllCause((cause) =>
          Effect.as(Effect.logWarning(`deadlines of ${pm.name}: delivery failed, retried`, cause), 0)
        )
      )
      if (delivered === batchSize) continue
      const now = yield* Clock.currentTimeMillis
      const next = yield* Effect.orElseSucceed(outbox.nextDeadline(pm.name), () => Option.none<number>())
      const wait = Option.match(next, { onNone: () => poll, onSome: (at) => Math.min(poll, Math.max(at - now, 0)) })
      yield* CommitSignal.awaitOrTimeout(commit, Duration.millis(Math.max(wait, 1)))
    }
  }).pipe(Effect.annotateLogs({ processManager: pm.name }))

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
  Effect.map(CommandHandler.load(pm.instances, instanceId), (snapshot) => snapshot.state)
