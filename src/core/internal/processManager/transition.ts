/**
 * The pure transition of a process instance: for one input (a domain event, the outcome of a
 * command it sent, a deadline), the events the instance records — the step settled, the
 * reaction's new state, deadlines and status, the commands it sends. Pure: the time is given.
 */
import { Duration, Either, Schema } from "effect"
import type {
  Advance,
  Any,
  CommandRejected,
  CommandSkipped,
  CommandSucceeded,
  DeadlineReached,
  Instance,
  InstanceEvent,
  ProcessManager,
  Reaction,
  Send,
  SendRecord,
  Status,
  Step
} from "../../ProcessManager.js"

/** A send as an instance records it; a defect when the process did not declare its target. */
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

type RuntimeInput = CommandSucceeded | CommandRejected | CommandSkipped | DeadlineReached

const isSettlement = (input: { readonly _tag: string }): input is CommandSucceeded | CommandRejected =>
  input._tag === "CommandSucceeded" || input._tag === "CommandRejected"

const isSkip = (input: { readonly _tag: string }): input is CommandSkipped => input._tag === "CommandSkipped"

const isDeadline = (input: { readonly _tag: string }): input is DeadlineReached => input._tag === "DeadlineReached"

/** The events of one transition as they are written, with the steps they lead to. */
class Recorder<S> {
  readonly events: Array<InstanceEvent<S>> = []
  steps: ReadonlyArray<Step>
  private nextStep: number
  constructor(readonly instance: Instance<S>) {
    this.steps = instance.steps
    this.nextStep = instance.steps.length + 1
  }
  issue(sent: SendRecord, kind: "action" | "compensation", compensation?: SendRecord) {
    const step = this.nextStep++
    const extra = compensation === undefined ? {} : { compensation }
    this.events.push({ _tag: "CommandIssued", step, kind, ...sent, ...extra })
    this.steps = [...this.steps, {
      step,
      kind,
      aggregateType: sent.aggregateType,
      aggregateId: sent.aggregateId,
      command: sent.command,
      outcome: "pending",
      ...extra
    }]
  }
  settle(step: number, outcome: "succeeded" | "rejected" | "skipped", error?: CommandRejected["error"]) {
    this.events.push({ _tag: "CommandSettled", step, outcome, ...(error === undefined ? {} : { error }) })
    this.steps = this.steps.map((s) => (s.step === step ? { ...s, outcome } : s))
  }
  advanced(status: Status, state: S, deadlines: Instance<S>["deadlines"], reason?: string) {
    this.events.push({ _tag: "ProcessAdvanced", status, state, deadlines, ...(reason === undefined ? {} : { reason }) })
  }
  get allSettled() {
    return this.steps.every((s) => s.outcome !== "pending")
  }
  /** An ended instance only finishes its compensation. */
  settleCompensation() {
    if (this.instance.status === "compensating" && this.allSettled) {
      this.advanced("compensated", this.instance.state, [], this.instance.reason)
    }
  }
}

/**
 * A step's outcome: settle it; once compensating, undo a late success at once. True when the
 * reaction should still run (the instance is running).
 */
const settlement = <S>(r: Recorder<S>, input: CommandSucceeded | CommandRejected | CommandSkipped): boolean => {
  const step = r.steps.find((s) => s.step === input.step)
  if (step === undefined || step.outcome !== "pending") return false
  if (isSkip(input)) {
    r.settle(input.step, "skipped")
    r.settleCompensation()
    return false
  }
  const outcome = input._tag === "CommandSucceeded" ? "succeeded" as const : "rejected" as const
  r.settle(input.step, outcome, input._tag === "CommandRejected" ? input.error : undefined)
  if (r.instance.status === "running") return true
  // a step that succeeded after the process began compensating is undone at once
  const ending = r.instance.status === "compensating" || r.instance.status === "compensated"
  if (ending && outcome === "succeeded" && step.kind === "action" && step.compensation !== undefined) {
    r.issue(step.compensation, "compensation")
  }
  r.settleCompensation()
  return false
}

/** Whether an instance reacts to an input at all. */
const reacts = <Event extends { readonly _tag: string }, S>(
  pm: Omit<ProcessManager<Event, S>, "instances">,
  instance: Instance<S>,
  input: Event | DeadlineReached
): boolean => {
  if (isDeadline(input)) {
    return instance.status === "running" && instance.deadlines.some((d) => d.name === input.name)
  }
  if (instance.status === "new") return pm.startedBy.includes(input._tag)
  return instance.status === "running"
}

/** Record a reaction: the new state and deadlines, the commands, or the end (complete or compensate). */
const recordReaction = <S>(
  pm: Pick<Any, "name" | "targets">,
  r: Recorder<S>,
  reaction: Reaction<S>,
  deadlines: Instance<S>["deadlines"]
) => {
  const end = reaction.end
  if (end === undefined) {
    r.advanced("running", reaction.state, deadlines)
    for (const send of reaction.commands ?? []) {
      r.issue(record(pm, send), "action", send.compensation && record(pm, send.compensation))
    }
  } else if (end._tag === "Complete") {
    r.advanced("completed", reaction.state, [])
    for (const send of reaction.commands ?? []) r.issue(record(pm, send), "action")
  } else {
    const index = r.events.length
    r.advanced("compensating", reaction.state, [], end.reason)
    const done = r.steps.filter((s) => s.kind === "action" && s.outcome === "succeeded" && s.compensation !== undefined)
    for (const step of done.reverse()) r.issue(step.compensation!, "compensation")
    for (const send of end.then) r.issue(record(pm, send), "compensation")
    if (r.allSettled) {
      r.events[index] = {
        _tag: "ProcessAdvanced",
        status: "compensated",
        state: reaction.state,
        deadlines: [],
        reason: end.reason
      }
    }
  }
}

/** The deadlines after a reaction: the fired one and the cancelled ones gone, the set ones (re)scheduled. */
const nextDeadlines = <S>(
  instance: Instance<S>,
  input: { readonly _tag: string },
  reaction: Reaction<S>,
  now: number
): Instance<S>["deadlines"] => {
  const dropped = new Set([...(isDeadline(input) ? [input.name] : []), ...(reaction.cancelDeadlines ?? [])])
  const set = (reaction.deadlines ?? []).map((d) => ({ name: d.name, dueAt: now + Duration.toMillis(d.after) }))
  return [...instance.deadlines.filter((d) => !dropped.has(d.name) && !set.some((s) => s.name === d.name)), ...set]
}

/** The events an instance records for one input. */
export const transition = <Event extends { readonly _tag: string }, S>(
  pm: Omit<ProcessManager<Event, S>, "instances">,
  instance: Instance<S>,
  { input: received, now }: Advance<Event>
): Either.Either<ReadonlyArray<InstanceEvent<S>>, never> => {
  // the runtime's own inputs (their tags are reserved)
  const input = received as RuntimeInput | Event
  const r = new Recorder(instance)
  if (isSettlement(input) || isSkip(input)) {
    if (!settlement(r, input)) return Either.right(r.events)
  } else if (!reacts(pm, instance, input)) {
    return Either.right([])
  }
  const reaction = pm.react(instance.state, received as Exclude<typeof received, CommandSkipped>)
  recordReaction(pm, r, reaction, nextDeadlines(instance, input, reaction, now))
  return Either.right(r.events)
}
