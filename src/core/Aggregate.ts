/**
 * Pure aggregates: a state, a closed union of events, `evolve` to apply an event and commands that
 * decide which events happen. Nothing here performs I/O, reads the clock or draws random numbers:
 * running a command is a pure function of the current state and the command's input.
 *
 * @since 0.1.0
 * @module
 */
import { Either, Schema } from "effect"
import { dual } from "effect/Function"
import { type Pipeable, pipeArguments } from "effect/Pipeable"

/**
 * What a command expects of its aggregate: to be `new` (no event yet), `existing` (at least one
 * event) or `any`.
 *
 * @since 0.1.0
 * @category models
 */
export type Expectation = "new" | "existing" | "any"

/**
 * How an aggregate is stored. `StateStored`: a state row written with the events in one
 * transaction (loading reads one row). `EventSourced`: state is the fold of the events, with an
 * optional snapshot every `snapshotEvery` events.
 *
 * @since 0.1.0
 * @category models
 */
export type Persistence =
  | { readonly _tag: "StateStored" }
  | { readonly _tag: "EventSourced"; readonly snapshotEvery?: number }

/**
 * @since 0.1.0
 * @category constructors
 */
export const stateStored: Persistence = { _tag: "StateStored" }

/**
 * @since 0.1.0
 * @category constructors
 */
export const eventSourced = (options?: { readonly snapshotEvery?: number }): Persistence =>
  options?.snapshotEvery === undefined
    ? { _tag: "EventSourced" }
    : { _tag: "EventSourced", snapshotEvery: options.snapshotEvery }

/**
 * A command: what it expects of the aggregate, the schema of its input (used for idempotency
 * fingerprints, HTTP decoding and generated property tests) and the pure decision.
 *
 * @since 0.1.0
 * @category models
 */
export interface Command<in out State, out Event, in out Input, out E> {
  readonly expects: Expectation
  readonly input: Schema.Schema<Input, any>
  /** The decision: the events that happen, or why the command is refused. */
  readonly decide: (state: State, input: Input) => Either.Either<ReadonlyArray<Event>, E>
}

/**
 * One handler per event tag. A missing tag, or a tag that is not in the union, does not compile.
 *
 * @since 0.1.0
 * @category models
 */
export type Evolvers<State, Event extends { readonly _tag: string }> = {
  readonly [K in Event["_tag"]]: (state: State, event: Extract<Event, { readonly _tag: K }>) => State
}

/**
 * Upcasters for one event type, indexed by the schema version they upgrade *from*: `{ 1: v1ToV2 }`.
 * The current schema version of the event is one more than the highest key.
 *
 * @since 0.1.0
 * @category models
 */
export type Upcasters = {
  /** Turns a payload written at `fromVersion` into the next version's shape. */
  readonly [fromVersion: number]: (payload: any) => unknown
}

/**
 * An aggregate definition.
 *
 * @since 0.1.0
 * @category models
 */
export interface Aggregate<
  in out Name extends string,
  in out Id extends string,
  in out State,
  in out Event extends { readonly _tag: string },
  in out Commands extends Record<string, Command<State, Event, any, any>>
> extends Pipeable {
  readonly name: Name
  readonly id: Schema.Schema<Id, string>
  readonly state: Schema.Schema<State, any>
  readonly events: Schema.Schema<Event, any>
  /** The state of an aggregate before its first event. */
  readonly initial: (id: Id) => State
  readonly evolvers: Evolvers<State, Event>
  readonly commands: Commands
  readonly persistence: Persistence
  readonly upcasters: { readonly [eventType: string]: Upcasters }
  /** Apply one event. */
  readonly evolve: (state: State, event: Event) => State
  /**
   * Add a command. Its events must belong to the aggregate's event union; its error type is
   * inferred from every `Either.left` that `decide` returns (`NotDraft | NoLessons`), with no
   * return type annotation needed.
   */
  readonly command: <const K extends string, Input, D extends Decide<State, Event, Input>>(
    name: K,
    command: {
      readonly expects: Expectation
      readonly input: Schema.Schema<Input, any>
      readonly decide: D
    }
  ) => Aggregate<
    Name,
    Id,
    State,
    Event,
    Commands & { readonly [k in K]: Command<State, Event, Input, DecideError<ReturnType<D>>> }
  >
}

/**
 * The shape of a command's `decide` before its error type is known: any error, events of the
 * aggregate's union only.
 *
 * @since 0.1.0
 * @category models
 */
export type Decide<State, Event, Input> = (state: State, input: Input) => Either.Either<ReadonlyArray<Event>, any>

/**
 * The error type of a decision: the union of the errors of every `Either` it may return (a
 * conditional that returns `Either.left(new A())` or `Either.left(new B())` gives `A | B`).
 *
 * @since 0.1.0
 * @category models
 */
export type DecideError<R> = R extends Either.Either<any, infer E> ? E : never

/**
 * Any aggregate, for code that works with all of them.
 *
 * @since 0.1.0
 * @category models
 */
export interface Any {
  readonly name: string
  readonly id: Schema.Schema<any, string>
  readonly state: Schema.Schema<any, any>
  readonly events: Schema.Schema<any, any>
  /** The state of an aggregate before its first event. */
  readonly initial: (id: any) => any
  readonly evolvers: any
  readonly commands: Record<string, Command<any, any, any, any>>
  readonly persistence: Persistence
  readonly upcasters: { readonly [eventType: string]: Upcasters }
  /** Apply one event to a state. */
  readonly evolve: (state: any, event: any) => any
}

/** @since 0.1.0 @category models */
export type Id<A extends Any> = A["id"]["Type"]
/** @since 0.1.0 @category models */
export type State<A extends Any> = A["state"]["Type"]
/** @since 0.1.0 @category models */
export type Event<A extends Any> = A["events"]["Type"]
/** @since 0.1.0 @category models */
export type CommandName<A extends Any> = keyof A["commands"] & string
/** @since 0.1.0 @category models */
export type Input<A extends Any, K extends CommandName<A>> = A["commands"][K] extends Command<any, any, infer I, any> ?
  I
  : never
/** @since 0.1.0 @category models */
export type DomainError<A extends Any, K extends CommandName<A>> = A["commands"][K] extends
  Command<any, any, any, infer E> ? E
  : never

/**
 * The aggregate does not exist, but the command expects an existing one.
 *
 * @since 0.1.0
 * @category errors
 */
export class AggregateNotFound extends Schema.TaggedError<AggregateNotFound>()("AggregateNotFound", {
  aggregateType: Schema.String,
  aggregateId: Schema.String
}) {
  override get message() {
    return `${this.aggregateType} ${this.aggregateId} does not exist`
  }
}

/**
 * The aggregate exists, but the command expects a new one.
 *
 * @since 0.1.0
 * @category errors
 */
export class AggregateAlreadyExists extends Schema.TaggedError<AggregateAlreadyExists>()("AggregateAlreadyExists", {
  aggregateType: Schema.String,
  aggregateId: Schema.String
}) {
  override get message() {
    return `${this.aggregateType} ${this.aggregateId} already exists`
  }
}

/**
 * The state of an aggregate at a version; version 0 means it does not exist yet.
 *
 * @since 0.1.0
 * @category models
 */
export interface Snapshot<Id, State> {
  readonly id: Id
  readonly state: State
  readonly version: number
}

/**
 * The outcome of a command: the events it decided and the state they lead to
 * (always `events.reduce(evolve, state)`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Decision<State, Event> {
  readonly state: State
  readonly events: ReadonlyArray<Event>
}

const Proto = {
  pipe() {
    return pipeArguments(this, arguments)
  }
}

const build = (fields: Omit<Any, "evolve"> & { readonly evolvers: Record<string, (s: any, e: any) => any> }): any => {
  const evolvers = fields.evolvers
  const self = Object.assign(Object.create(Proto), fields, {
    evolve: (state: unknown, event: { readonly _tag: string }) => evolvers[event._tag]!(state, event),
    command: (name: string, command: Command<any, any, any, any>) =>
      build({ ...fields, commands: { ...fields.commands, [name]: command } })
  })
  return self
}

/**
 * Define an aggregate in two steps: its name and schemas, then its behaviour (`initial` and one
 * `evolve` handler per event). Add commands with `.command(name, { expects, input, decide })`.
 * (The two steps let TypeScript fix the state and event types before it checks the functions.)
 *
 * @example
 * The example domain's Inventory (`examples/http-server/Domain/Inventory.ts`):
 * {@includeCode ../../examples/http-server/Domain/Inventory.ts#aggregate}
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <
  const Name extends string,
  Id extends string,
  State,
  Event extends { readonly _tag: string }
>(options: {
  readonly name: Name
  readonly id: Schema.Schema<Id, string>
  readonly state: Schema.Schema<State, any>
  readonly events: Schema.Schema<Event, any>
  readonly persistence?: Persistence
  readonly upcasters?: { readonly [K in NoInfer<Event>["_tag"]]?: Upcasters }
}) =>
(behaviour: {
  readonly initial: (id: Id) => State
  readonly evolve: Evolvers<State, Event>
}): Aggregate<Name, Id, State, Event, {}> =>
  build({
    name: options.name,
    id: options.id,
    state: options.state,
    events: options.events,
    initial: behaviour.initial,
    evolvers: behaviour.evolve as Record<string, (s: any, e: any) => any>,
    commands: {},
    persistence: options.persistence ?? stateStored,
    upcasters: (options.upcasters ?? {}) as Any["upcasters"]
  })

/**
 * The same aggregate, stored another way: `Aggregate.withPersistence(Order, Aggregate.eventSourced())`
 * or `Order.pipe(Aggregate.withPersistence(Aggregate.eventSourced()))`.
 *
 * @since 0.1.0
 * @category combinators
 */
export const withPersistence: {
  (persistence: Persistence): <A extends Any>(aggregate: A) => A
  <A extends Any>(aggregate: A, persistence: Persistence): A
} = dual(2, <A extends Any>(aggregate: A, persistence: Persistence): A => build({ ...(aggregate as Any), persistence }))

/**
 * The current schema version of an event type (1 unless upcasters exist for older versions).
 *
 * @since 0.1.0
 * @category combinators
 */
export const schemaVersion = (aggregate: Any, eventType: string): number => {
  const upcasters = aggregate.upcasters[eventType]
  if (upcasters === undefined) return 1
  let max = 0
  for (const key of Object.keys(upcasters)) max = Math.max(max, Number(key))
  return max + 1
}

/**
 * Apply events to a state.
 *
 * @since 0.1.0
 * @category combinators
 */
export const fold = <A extends Any>(aggregate: A, state: State<A>, events: Iterable<Event<A>>): State<A> => {
  let current = state
  for (const event of events) current = aggregate.evolve(current, event)
  return current
}

/**
 * The state of an aggregate rebuilt from all of its events.
 *
 * @since 0.1.0
 * @category combinators
 */
export const replay = <A extends Any>(aggregate: A, id: Id<A>, events: Iterable<Event<A>>): State<A> =>
  fold(aggregate, aggregate.initial(id), events)

/**
 * Check a command's expectation against the aggregate's version.
 *
 * @since 0.1.0
 * @category combinators
 */
export const checkExpectation = (
  aggregate: Any,
  aggregateId: string,
  version: number,
  expects: Expectation
): Either.Either<void, AggregateNotFound | AggregateAlreadyExists> => {
  if (expects === "new" && version > 0) {
    return Either.left(new AggregateAlreadyExists({ aggregateType: aggregate.name, aggregateId }))
  }
  if (expects === "existing" && version === 0) {
    return Either.left(new AggregateNotFound({ aggregateType: aggregate.name, aggregateId }))
  }
  return Either.void
}

/**
 * Run a command purely: check its expectation, decide, and evolve the state with the events.
 *
 * @since 0.1.0
 * @category combinators
 */
export const decide = <A extends Any, K extends CommandName<A>>(
  aggregate: A,
  current: Snapshot<Id<A>, State<A>>,
  command: K,
  input: Input<A, K>
): Either.Either<
  Decision<State<A>, Event<A>>,
  DomainError<A, K> | AggregateNotFound | AggregateAlreadyExists
> => {
  const definition = aggregate.commands[command]!
  const expected = checkExpectation(aggregate, current.id, current.version, definition.expects)
  if (Either.isLeft(expected)) return Either.left(expected.left)
  const decided = definition.decide(current.state, input)
  if (Either.isLeft(decided)) return Either.left(decided.left)
  const events = decided.right
  return Either.right({ state: fold(aggregate, current.state, events), events })
}
