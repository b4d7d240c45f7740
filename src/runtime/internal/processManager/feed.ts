/**
 * Feeding an input to a process instance: its `advance` command, executed in the ambient
 * transaction, with its deadlines kept in step.
 */
import { Clock, Effect } from "effect"
import type * as DomainEvent from "../../../core/DomainEvent.js"
import type { CommandSkipped, Input, ProcessManager } from "../../../core/ProcessManager.js"
import { Deadlines } from "../../../ports/Deadlines.js"
import * as CommandHandler from "../../CommandHandler.js"

/** What an instance's commands carry of the event that caused them. */
export type Metadata = NonNullable<CommandHandler.ExecuteOptions["metadata"]>

/** The metadata of what an event causes: its correlation, itself as the cause, its trace. */
export const causedBy = (envelope: DomainEvent.Envelope<unknown>): Metadata => ({
  correlationId: envelope.metadata.correlationId,
  causationId: envelope.eventId,
  traceparent: envelope.metadata.traceparent,
  tracestate: envelope.metadata.tracestate
})

/** Feed an input to an instance in the ambient transaction, and keep its deadlines in step. */
export const feed = <Event extends { readonly _tag: string }, S>(
  pm: ProcessManager<Event, S>,
  instanceId: string,
  input: Input<Event> | CommandSkipped,
  metadata?: Metadata
) =>
  Effect.gen(function*() {
    const handler = yield* CommandHandler.CommandHandler
    const deadlines = yield* Deadlines
    const now = yield* Clock.currentTimeMillis
    const result = yield* handler.execute(
      pm.instances,
      instanceId,
      "advance",
      { input, now },
      metadata ? { metadata } : {}
    )
    if (result.events.some((e) => e.payload._tag === "ProcessAdvanced")) {
      yield* deadlines.set(pm.name, instanceId, result.state.deadlines)
    }
  })
