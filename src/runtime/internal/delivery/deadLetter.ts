/**
 * Recording dead letters: an event that failed after its retries, a payload that cannot be
 * decoded (poison), or a later event of an aggregate whose earlier one is dead-lettered (parked).
 */
import { Clock, Effect } from "effect"
import type * as DomainEvent from "../../../core/DomainEvent.js"
import type * as DeadLetters from "../../../ports/DeadLetters.js"
import type { Engine, Partition } from "./context.js"
import { describeEvent, eventAnnotations } from "./events.js"

/** Record a dead letter of `event` for the partition's subscription, in the ambient transaction. */
export const record = (
  engine: Engine,
  partition: Partition,
  event: DomainEvent.Stored,
  kind: DeadLetters.DeadLetter["kind"],
  failure: { readonly error: string; readonly attempts: number; readonly firstFailedAt: number }
) =>
  Effect.flatMap(Clock.currentTimeMillis, (now) =>
    Effect.zipRight(
      engine.telemetry.deadLettered(partition.subscription.name, kind),
      engine.deadLetters.add({
        id: `${partition.subscription.name}:${event.eventId}`,
        subscription: partition.subscription.name,
        partition: partition.index,
        kind,
        eventId: event.eventId,
        position: event.position,
        aggregateType: event.aggregateType,
        aggregateId: event.aggregateId,
        version: event.version,
        eventType: event.eventType,
        error: failure.error,
        attempts: failure.attempts,
        firstFailedAt: failure.firstFailedAt,
        lastFailedAt: now,
        status: "open"
      })
    ))

/** The log line of a dead letter (at error level: someone has to act on it). */
export const logDeadLettered = (
  partition: Partition,
  event: DomainEvent.Stored,
  kind: DeadLetters.DeadLetter["kind"],
  error: string,
  attempts: number
) =>
  (kind === "parked"
    ? Effect.logWarning(
      `${partition.subscription.name}: ${describeEvent(event)} parked behind a dead-lettered event of its aggregate`
    )
    : Effect.logError(
      `${partition.subscription.name}: ${
        describeEvent(event)
      } dead-lettered (${kind}) after ${attempts} attempt(s): ${error}`
    )).pipe(Effect.annotateLogs({ ...eventAnnotations(event), kind, attempts, error }))
