/**
 * A process manager's instances, stored as an aggregate named after it: one `advance` command
 * whose decision is the pure transition, and an `evolve` that replays what the instance recorded.
 */
import { Either, Schema } from "effect"
import * as Aggregate from "../../Aggregate.js"
import type { Advance, Input, Instance, ProcessManager, Step } from "../../ProcessManager.js"
import { instanceSchemas } from "../../ProcessManager.js"
import { transition } from "./transition.js"

/** The instances' aggregate of a definition. */
export const instancesOf = <Event extends { readonly _tag: string }, S, SI>(
  definition: Omit<ProcessManager<Event, S>, "instances">,
  state: Schema.Schema<S, SI>
): ProcessManager<Event, S>["instances"] => {
  const schemas = instanceSchemas(state)
  return Aggregate.make({
    name: definition.name,
    id: Schema.String,
    state: schemas.Instance,
    events: schemas.Event
  })({
    initial: (id): Instance<S> => ({ status: "new", state: definition.initial(id), steps: [], deadlines: [] }),
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
    decide: (instance: Instance<S>, advance: Advance<Event>) => transition(definition, instance, advance)
  }) as unknown as ProcessManager<Event, S>["instances"]
}

/** Apply one input to an instance, purely: the instance after it, and the commands it sends. */
export const advanceInstance = <Event extends { readonly _tag: string }, S>(
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
