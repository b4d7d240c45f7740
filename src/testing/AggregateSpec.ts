/**
 * Given/when/then specifications for aggregates:
 * `AggregateSpec.make(Order, id).given([placed]).when("confirm", {}).then([confirmed])`.
 * Assertions throw, so a spec works in any test runner.
 *
 * @since 0.1.0
 * @module
 */
import { Either, Schema } from "effect"
import assert from "node:assert/strict"
import * as Aggregate from "../core/Aggregate.js"

/**
 * What an error can be matched by: its tag, its class (with a static `_tag`) or an instance.
 *
 * @since 0.1.0
 * @category models
 */
export type ErrorMatcher = string | { readonly _tag: string }

/**
 * @since 0.1.0
 * @category models
 */
export interface When<A extends Aggregate.Any> {
  /** The command succeeds with exactly these events; returns the decision for further checks. */
  readonly then: (
    events: ReadonlyArray<Aggregate.Event<A>>
  ) => Aggregate.Decision<Aggregate.State<A>, Aggregate.Event<A>>
  /** The command succeeds and leads to this state (compared in its encoded form). */
  readonly thenState: (state: Aggregate.State<A>) => Aggregate.Decision<Aggregate.State<A>, Aggregate.Event<A>>
  /** The command fails with an error of this tag; returns the error. */
  readonly thenFails: (error: ErrorMatcher) => { readonly _tag: string }
  /** The command succeeds without events. */
  readonly thenNothingHappened: () => void
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Given<A extends Aggregate.Any> {
  /** The command under test, with its input. */
  readonly when: <K extends Aggregate.CommandName<A>>(command: K, input: Aggregate.Input<A, K>) => When<A>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Spec<A extends Aggregate.Any> {
  /** The events that happened before; `[]` for an aggregate that does not exist yet. */
  readonly given: (events: ReadonlyArray<Aggregate.Event<A>>) => Given<A>
}

const tagOf = (matcher: ErrorMatcher): string => (typeof matcher === "string" ? matcher : matcher._tag)

const describe = (value: unknown): string => {
  try {
    return JSON.stringify(value)
  } catch {
    return String(value)
  }
}

/**
 * A specification for one aggregate instance.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <A extends Aggregate.Any>(aggregate: A, id: Aggregate.Id<A>): Spec<A> => ({
  given: (given) => ({
    when: (command, input) => {
      const run = () =>
        Aggregate.decide(
          aggregate,
          { id, state: Aggregate.replay(aggregate, id, given), version: given.length },
          command,
          input
        )
      const succeeded = () => {
        const result = run()
        if (Either.isLeft(result)) {
          const error = result.left as { readonly _tag?: string }
          assert.fail(
            `expected ${command} to succeed, but it failed with ${error._tag ?? "an error"}: ${describe(error)}`
          )
        }
        return result.right
      }
      const encodeState = Schema.encodeSync(aggregate.state)
      return {
        then: (events) => {
          const decision = succeeded()
          assert.deepStrictEqual(decision.events, events)
          return decision
        },
        thenState: (state) => {
          const decision = succeeded()
          assert.deepStrictEqual(encodeState(decision.state), encodeState(state))
          return decision
        },
        thenFails: (matcher) => {
          const result = run()
          if (Either.isRight(result)) {
            assert.fail(
              `expected ${command} to fail with ${tagOf(matcher)}, but it succeeded with ${
                describe(result.right.events)
              }`
            )
          }
          const error = result.left as { readonly _tag: string }
          assert.equal(error._tag, tagOf(matcher), `expected ${tagOf(matcher)}, got ${error._tag}: ${describe(error)}`)
          return error
        },
        thenNothingHappened: () => {
          const decision = succeeded()
          assert.deepStrictEqual(decision.events, [], `expected no events, got ${describe(decision.events)}`)
        }
      }
    }
  })
})
