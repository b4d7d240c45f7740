/**
 * The schemas a process manager's instances are stored with: their status, the steps (commands
 * sent and what became of them), the deadlines, and the events an instance records. Each is
 * defined once; the public types are derived from them.
 */
import { Schema } from "effect"

/** Where an instance stands (see the public `Status`). */
export const Status = Schema.Literal("new", "running", "completed", "compensating", "compensated")

/** A command as an instance records it: its target, its name and its encoded input. */
export const SendRecord = Schema.Struct({
  aggregateType: Schema.String,
  aggregateId: Schema.String,
  command: Schema.String,
  /** The encoded input. */
  input: Schema.Unknown
})

/** A step: one command the process sent and what became of it. */
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

const ScheduledDeadline = Schema.Struct({ name: Schema.String, dueAt: Schema.Number })

/**
 * The schemas an instance is stored with, for the schema of its state: the instance itself, and
 * the events it records — it advanced (new status, state and deadlines), it issued a command, a
 * command it issued settled.
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
