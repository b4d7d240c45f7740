/**
 * Laws every aggregate must obey, checked on random command sequences whose inputs are generated
 * from the commands' schemas:
 *
 * - replay determinism: the state returned by the commands equals the fold of all their events;
 * - decision determinism: deciding twice on the same state and input gives the same outcome;
 * - storage round trip: events and states survive their schemas' encode/decode.
 *
 * @since 0.1.0
 * @module
 */
import { Arbitrary, Either, FastCheck, Schema } from "effect"
import assert from "node:assert/strict"
import * as Aggregate from "../core/Aggregate.js"

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
 * Random scenarios for an aggregate, from its id and input schemas. Pass `inputs` to override the
 * arbitrary of a command's input (e.g. to keep ids within a small set so commands interact).
 *
 * @since 0.1.0
 * @category constructors
 */
export const scenario = <A extends Aggregate.Any>(
  aggregate: A,
  options: {
    readonly maxLength?: number
    readonly inputs?: { readonly [K in Aggregate.CommandName<A>]?: FastCheck.Arbitrary<Aggregate.Input<A, K>> }
  } = {}
): FastCheck.Arbitrary<Scenario<A>> => {
  const steps = Object.keys(aggregate.commands).map((command) => {
    const custom = (options.inputs as Record<string, FastCheck.Arbitrary<unknown>> | undefined)?.[command]
    const input = custom ?? Arbitrary.make(aggregate.commands[command]!.input)
    return input.map((input): Step<A> => ({ command, input }))
  })
  return FastCheck.record({
    id: Arbitrary.make(aggregate.id) as FastCheck.Arbitrary<Aggregate.Id<A>>,
    steps: FastCheck.array(FastCheck.oneof(...steps), { maxLength: options.maxLength ?? 20 })
  })
}

const outcome = (result: Either.Either<Aggregate.Decision<unknown, unknown>, unknown>) =>
  Either.isRight(result)
    ? { ok: result.right.events }
    : { error: { ...(result.left as object), _tag: (result.left as { _tag?: unknown })._tag } }

/**
 * Run a scenario, checking at every step that deciding is deterministic and that the state equals
 * the fold of all events so far. Throws an assertion error when a law is broken; returns the events.
 *
 * @since 0.1.0
 * @category combinators
 */
export const check = <A extends Aggregate.Any>(
  aggregate: A,
  scenario: Scenario<A>
): ReadonlyArray<Aggregate.Event<A>> => {
  const encodeState = Schema.encodeSync(aggregate.state)
  const decodeState = Schema.decodeUnknownSync(aggregate.state)
  const encodeEvent = Schema.encodeSync(aggregate.events)
  const decodeEvent = Schema.decodeUnknownSync(aggregate.events)
  const events: Array<Aggregate.Event<A>> = []
  let current: Aggregate.Snapshot<Aggregate.Id<A>, Aggregate.State<A>> = {
    id: scenario.id,
    state: aggregate.initial(scenario.id),
    version: 0
  }
  for (const step of scenario.steps) {
    const input = step.input as Aggregate.Input<A, typeof step.command>
    const first = Aggregate.decide(aggregate, current, step.command, input)
    const second = Aggregate.decide(aggregate, current, step.command, input)
    assert.deepStrictEqual(outcome(second), outcome(first), `deciding ${step.command} twice gave different outcomes`)
    if (Either.isLeft(first)) continue
    for (const event of first.right.events) {
      const encoded = encodeEvent(event)
      assert.deepStrictEqual(encodeEvent(decodeEvent(JSON.parse(JSON.stringify(encoded)))), encoded)
    }
    events.push(...first.right.events)
    current = { id: current.id, state: first.right.state, version: current.version + first.right.events.length }
    const replayed = encodeState(Aggregate.replay(aggregate, scenario.id, events))
    assert.deepStrictEqual(encodeState(current.state), replayed, `state after ${step.command} differs from the replay`)
    assert.deepStrictEqual(encodeState(decodeState(JSON.parse(JSON.stringify(replayed)))), replayed)
  }
  return events
}
