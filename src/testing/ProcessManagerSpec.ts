/**
 * Given/when/then specs for process managers, run purely (no store, no relay). From the specs of
 * the example's order fulfilment (`test/unit/domain/OrderFulfilment.test.ts`):
 * {@includeCode ../../test/unit/domain/OrderFulfilment.test.ts#setup,spec}
 *
 * Outcomes of commands are written by aggregate, id and command; the spec finds the step (the
 * oldest pending one that matches), so specs never spell step numbers. Time starts at `at`
 * (default 0) and moves only with `.after(duration)`.
 *
 * @since 0.1.0
 * @module
 */
import { Duration, Schema } from "effect"
import assert from "node:assert/strict"
import type * as Aggregate from "../core/Aggregate.js"
import * as ProcessManager from "../core/ProcessManager.js"

/**
 * An outcome of a command the process sent, matched to its step when the spec runs.
 *
 * @since 0.1.0
 * @category models
 */
export interface Outcome {
  readonly _tag: "Outcome"
  readonly aggregateType: string
  readonly aggregateId: string
  readonly command: string
  /** The error's tag when rejected. */
  readonly rejectedWith?: string | undefined
}

/**
 * The oldest pending command for this aggregate, id and command succeeded.
 *
 * @since 0.1.0
 * @category constructors
 */
export const succeeded = <A extends Aggregate.Any>(
  aggregate: A,
  id: Aggregate.Id<A>,
  command: Aggregate.CommandName<A>
): Outcome => ({
  _tag: "Outcome",
  aggregateType: aggregate.name,
  aggregateId: id,
  command
})

/**
 * The oldest pending command for this aggregate, id and command was refused with an error of
 * this tag.
 *
 * @since 0.1.0
 * @category constructors
 */
export const rejected = <A extends Aggregate.Any>(
  aggregate: A,
  id: Aggregate.Id<A>,
  command: Aggregate.CommandName<A>,
  errorTag: string
): Outcome => ({ _tag: "Outcome", aggregateType: aggregate.name, aggregateId: id, command, rejectedWith: errorTag })

/**
 * A deadline has passed.
 *
 * @since 0.1.0
 * @category constructors
 */
export const deadline = (name: string): ProcessManager.DeadlineReached => ProcessManager.DeadlineReached.make({ name })

/**
 * What a spec step may receive: an input of the process manager, or an outcome to match.
 *
 * @since 0.1.0
 * @category models
 */
export type Given<Event> = ProcessManager.Input<Event> | Outcome

/**
 * @since 0.1.0
 * @category models
 */
export interface Then<S> {
  /** The instance after the input. */
  readonly instance: ProcessManager.Instance<S>
  /** Exactly these commands were sent, in order (inputs compared encoded). */
  readonly then: (commands: ReadonlyArray<ProcessManager.Send>) => Then<S>
  /** The process state is this (compared encoded). */
  readonly thenState: (state: S) => Then<S>
  /** The instance's status (and compensation reason) are these. */
  readonly thenStatus: (status: ProcessManager.Status, reason?: string) => Then<S>
  /** These deadlines are pending, due at these times (epoch ms from the spec's start). */
  readonly thenDeadlines: (deadlines: ReadonlyArray<{ readonly name: string; readonly dueAt: number }>) => Then<S>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface When<Event, S> {
  /** The input under test. */
  readonly when: (input: Given<Event>) => Then<S>
  /** Let time pass before `when`. */
  readonly after: (duration: Duration.DurationInput) => When<Event, S>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Spec<Event, S> {
  /** What the instance received before; `[]` for one not started. */
  readonly given: (inputs: ReadonlyArray<Given<Event>>) => When<Event, S>
}

const describe = (value: unknown): string => {
  try {
    return JSON.stringify(value)
  } catch {
    return String(value)
  }
}

const resolve = <Event>(
  instance: ProcessManager.Instance<unknown>,
  input: Given<Event>
): ProcessManager.Input<Event> => {
  if (typeof input !== "object" || input === null || (input as { _tag?: unknown })._tag !== "Outcome") {
    return input as ProcessManager.Input<Event>
  }
  const outcome = input as Outcome
  const step = instance.steps.find((s) =>
    s.outcome === "pending" && s.aggregateType === outcome.aggregateType && s.aggregateId === outcome.aggregateId &&
    s.command === outcome.command
  )
  if (step === undefined) {
    assert.fail(
      `no pending ${outcome.aggregateType}/${outcome.aggregateId} ${outcome.command} to settle; steps: ${
        describe(instance.steps)
      }`
    )
  }
  const about = {
    step: step.step,
    aggregateType: step.aggregateType,
    aggregateId: step.aggregateId,
    command: step.command
  }
  return outcome.rejectedWith === undefined
    ? ProcessManager.CommandSucceeded.make(about)
    : ProcessManager.CommandRejected.make({
      ...about,
      error: { _tag: outcome.rejectedWith, message: outcome.rejectedWith }
    })
}

const encodedSend = (send: ProcessManager.Send) => ({
  aggregateType: send.aggregate.name,
  aggregateId: send.id,
  command: send.command,
  input: Schema.encodeSync(send.aggregate.commands[send.command]!.input as Schema.Schema<unknown, unknown>)(send.input)
})

/**
 * A spec for one instance of a process manager.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <Event extends { readonly _tag: string }, S>(
  pm: ProcessManager.ProcessManager<Event, S>,
  instanceId: string,
  options?: { readonly at?: number }
): Spec<Event, S> => ({
  given: (inputs) => {
    let now = options?.at ?? 0
    let instance = pm.instances.initial(instanceId)
    for (const input of inputs) instance = ProcessManager.advance(pm, instance, resolve(instance, input), now).instance
    const when: When<Event, S> = {
      after: (duration) => {
        now += Duration.toMillis(duration)
        return when
      },
      when: (input) => {
        const result = ProcessManager.advance(pm, instance, resolve(instance, input), now)
        const encodeState = Schema.encodeSync(pm.instances.state)
        const then: Then<S> = {
          instance: result.instance,
          then: (commands) => {
            assert.deepStrictEqual(
              result.sent.map((s) => ({
                aggregateType: s.aggregateType,
                aggregateId: s.aggregateId,
                command: s.command,
                input: s.input
              })),
              commands.map(encodedSend)
            )
            return then
          },
          thenState: (state) => {
            assert.deepStrictEqual(
              encodeState({ ...result.instance, state }).state,
              encodeState(result.instance).state
            )
            return then
          },
          thenStatus: (status, reason) => {
            assert.deepStrictEqual(
              { status: result.instance.status, reason: result.instance.reason },
              { status, reason }
            )
            return then
          },
          thenDeadlines: (deadlines) => {
            assert.deepStrictEqual(result.instance.deadlines, deadlines)
            return then
          }
        }
        return then
      }
    }
    return when
  }
})
