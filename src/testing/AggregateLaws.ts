/**
 * Laws every aggregate must obey, checked on random command sequences whose inputs are generated
 * from the commands' schemas (biased towards boundary values: 0, 1, -1, the bounds of
 * refinements, empty strings and arrays):
 *
 * - total decision: `decide` returns an `Either` for every valid input, it never throws;
 * - decision determinism: deciding twice on the same state and input gives the same outcome;
 * - replay determinism: the state returned by the commands equals the fold of all their events;
 * - event round trip and state round trip: events and states survive their schemas' encode,
 *   JSON and decode.
 *
 * A broken law throws `LawBroken`, whose message names the law, the aggregate, the command
 * sequence with its inputs, the step that broke it and the underlying error.
 *
 * @example
 * ```ts
 * import { it } from "@effect/vitest"
 * import { AggregateLaws } from "effect-ddd/testing"
 *
 * it.prop("Account obeys the laws", [AggregateLaws.scenario(Account)], ([scenario]) => {
 *   AggregateLaws.check(Account, scenario)
 * })
 * ```
 *
 * @since 0.1.0
 * @module
 */
import { Arbitrary, Either, FastCheck, ParseResult, Schema } from "effect"
import assert from "node:assert/strict"
import * as Aggregate from "../core/Aggregate.js"
import * as Boundaries from "./internal/boundaries.js"
import { show } from "./internal/show.js"

/**
 * One command of a generated sequence.
 *
 * @since 0.1.0
 * @category models
 */
export interface Step<A extends Aggregate.Any> {
  readonly command: Aggregate.CommandName<A>
  readonly input: unknown
}

/**
 * A generated history: an aggregate id and commands to run on it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Scenario<A extends Aggregate.Any> {
  readonly id: Aggregate.Id<A>
  readonly steps: ReadonlyArray<Step<A>>
}

/**
 * The laws `check` asserts.
 *
 * @since 0.1.0
 * @category models
 */
export type Law =
  | "total decision"
  | "decision determinism"
  | "replay determinism"
  | "event round trip"
  | "state round trip"

/**
 * A law does not hold: which one, for which aggregate, at which step (1-based) of which command
 * sequence, and why (`detail`: the formatted underlying error; `cause`: the error itself).
 *
 * @since 0.1.0
 * @category errors
 */
export class LawBroken extends Schema.TaggedError<LawBroken>()("LawBroken", {
  law: Schema.Literal(
    "total decision",
    "decision determinism",
    "replay determinism",
    "event round trip",
    "state round trip"
  ),
  aggregateType: Schema.String,
  aggregateId: Schema.String,
  step: Schema.Number,
  steps: Schema.Array(Schema.Struct({ command: Schema.String, input: Schema.Unknown })),
  detail: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {
  override get message() {
    const steps = this.steps.map((step, i) =>
      `${i + 1 === this.step ? ">" : " "} ${i + 1}. ${step.command} ${show(step.input)}`
    )
    return [
      `${this.aggregateType} ${this.aggregateId}: the law "${this.law}" is broken at step ${this.step} of ${this.steps.length} (${
        this.steps[this.step - 1]?.command
      }).`,
      "Commands (inputs as generated; those after the marked step did not run):",
      ...steps,
      this.detail
    ].join("\n")
  }
}

/**
 * @since 0.1.0
 * @category models
 */
export interface ScenarioOptions<A extends Aggregate.Any> {
  /** The most commands in a scenario (default 20). */
  readonly maxLength?: number
  /** Arbitraries for some commands' inputs, instead of those generated from their schemas. */
  readonly inputs?: { readonly [K in Aggregate.CommandName<A>]?: FastCheck.Arbitrary<Aggregate.Input<A, K>> }
  /**
   * Draw numbers, strings and arrays from their boundary values a quarter of the time (default
   * true); `false`: the schemas' own arbitraries, as `Arbitrary.make` builds them.
   */
  readonly boundaries?: boolean
}

/**
 * The arbitrary of a schema's type, biased towards boundary values (unless `boundaries: false`):
 * a number is 0, 1, -1, or the minimum or maximum its refinements allow a quarter of the time; a
 * string is empty (or as short or as long as allowed), an array empty. Only values the schema
 * accepts are drawn; a part of the schema with its own `arbitrary` annotation keeps it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const arbitrary = <A, I, R>(
  schema: Schema.Schema<A, I, R>,
  options: { readonly boundaries?: boolean } = {}
): FastCheck.Arbitrary<A> => options.boundaries === false ? Arbitrary.make(schema) : Boundaries.arbitrary(schema)

/**
 * Random scenarios for an aggregate, from its id and input schemas (see `ScenarioOptions`). Pass
 * `inputs` to override the arbitrary of a command's input (e.g. to keep ids within a small set so
 * commands interact).
 *
 * @since 0.1.0
 * @category constructors
 */
export const scenario = <A extends Aggregate.Any>(
  aggregate: A,
  options: ScenarioOptions<A> = {}
): FastCheck.Arbitrary<Scenario<A>> => {
  const steps = Object.keys(aggregate.commands).map((command) => {
    const custom = (options.inputs as Record<string, FastCheck.Arbitrary<unknown>> | undefined)?.[command]
    const input = custom ?? arbitrary(aggregate.commands[command]!.input, options)
    return input.map((input): Step<A> => ({ command, input }))
  })
  return FastCheck.record({
    id: Arbitrary.make(aggregate.id) as FastCheck.Arbitrary<Aggregate.Id<A>>,
    steps: FastCheck.array(FastCheck.oneof(...steps), { maxLength: options.maxLength ?? 20 })
  })
}

/** A decision as the determinism law compares it: the events, or the error's fields and tag. */
const outcome = (result: Either.Either<Aggregate.Decision<unknown, unknown>, unknown>) =>
  Either.isRight(result)
    ? { ok: result.right.events }
    : { error: { ...(result.left as object), _tag: (result.left as { _tag?: unknown })._tag } }

/** An error as the report shows it: a schema error as its tree, an assertion with its diff. */
const describe = (error: unknown): string =>
  ParseResult.isParseError(error)
    ? ParseResult.TreeFormatter.formatErrorSync(error)
    : error instanceof Error
    ? `${error.name}: ${error.message}`
    : show(error)

/** The encode/decode pairs of the round-trip laws. */
const codecs = (aggregate: Aggregate.Any) => ({
  encodeState: Schema.encodeSync(aggregate.state),
  decodeState: Schema.decodeUnknownSync(aggregate.state),
  encodeEvent: Schema.encodeSync(aggregate.events),
  decodeEvent: Schema.decodeUnknownSync(aggregate.events)
})

/** Through JSON, as the stores keep it. */
const viaJson = (value: unknown): unknown => JSON.parse(JSON.stringify(value))

/**
 * Run a scenario, checking at every step that deciding is total and deterministic, that events
 * and states survive their schemas and JSON, and that the state equals the fold of all events so
 * far. Throws `LawBroken` when a law is broken; returns the events.
 *
 * @since 0.1.0
 * @category combinators
 */
export const check = <A extends Aggregate.Any>(
  aggregate: A,
  scenario: Scenario<A>
): ReadonlyArray<Aggregate.Event<A>> => {
  const { decodeEvent, decodeState, encodeEvent, encodeState } = codecs(aggregate)
  const events: Array<Aggregate.Event<A>> = []
  let current: Aggregate.Snapshot<Aggregate.Id<A>, Aggregate.State<A>> = {
    id: scenario.id,
    state: aggregate.initial(scenario.id),
    version: 0
  }
  scenario.steps.forEach((step, index) => {
    /** Run `body`; anything it throws breaks `law`, reported with `what` and the error. */
    const holds = <T>(law: Law, what: string, body: () => T): T => {
      try {
        return body()
      } catch (error) {
        throw new LawBroken({
          law,
          aggregateType: aggregate.name,
          aggregateId: String(scenario.id),
          step: index + 1,
          steps: scenario.steps.map((s) => ({ command: s.command, input: s.input })),
          detail: `${what}:\n${describe(error)}`,
          cause: error
        })
      }
    }
    const input = step.input as Aggregate.Input<A, typeof step.command>
    const decide = () => Aggregate.decide(aggregate, current, step.command, input)
    const first = holds("total decision", `${step.command} threw instead of returning an Either`, decide)
    const second = holds("total decision", `${step.command} threw instead of returning an Either`, decide)
    holds(
      "decision determinism",
      `deciding ${step.command} twice on the same state and input gave different outcomes`,
      () => assert.deepStrictEqual(outcome(second), outcome(first))
    )
    if (Either.isLeft(first)) return
    for (const event of first.right.events) {
      const what = `the event ${show(event)} does not survive its schema's encode, JSON and decode`
      holds("event round trip", what, () => {
        const encoded = encodeEvent(event)
        assert.deepStrictEqual(encodeEvent(decodeEvent(viaJson(encoded))), encoded)
      })
    }
    events.push(...first.right.events)
    current = { id: current.id, state: first.right.state, version: current.version + first.right.events.length }
    const state = current.state
    const encoded = holds(
      "state round trip",
      `the state after ${step.command} (${show(state)}) does not encode with its schema`,
      () => encodeState(state)
    )
    const replayed = holds(
      "state round trip",
      "the state replayed from the events does not encode with its schema",
      () => encodeState(Aggregate.replay(aggregate, scenario.id, events))
    )
    holds(
      "replay determinism",
      `the state after ${step.command} differs from the fold of all events so far (actual: the state, expected: the replay)`,
      () => assert.deepStrictEqual(encoded, replayed)
    )
    holds(
      "state round trip",
      `the state after ${step.command} does not survive its schema's encode, JSON and decode`,
      () => assert.deepStrictEqual(encodeState(decodeState(viaJson(encoded))), encoded)
    )
  })
  return events
}
