/**
 * The events a worker delivers: their aggregate key (for parking), decoding for a subscription,
 * the cursor after a batch, and what a failure says in a dead letter.
 */
import { Cause, Either } from "effect"
import * as DomainEvent from "../../../core/DomainEvent.js"
import * as Subscription from "../../../core/Subscription.js"
import type { LogCursor, LoggedEvent } from "../../../ports/EventStore.js"

/** The key of an event's aggregate among the parked ones. */
export const aggregateKey = (aggregateType: string, aggregateId: string) => `${aggregateType}\u0000${aggregateId}`

/** Decode a stored event for a subscription: its envelope, or why it cannot be. */
export const decode = (
  subscription: Subscription.Any,
  event: DomainEvent.Stored
): Either.Either<DomainEvent.Envelope<unknown>, string> => {
  const aggregate = Subscription.aggregateOf(subscription, event.aggregateType)
  if (aggregate === undefined) return Either.left(`no source for aggregate type ${event.aggregateType}`)
  return Either.mapLeft(DomainEvent.decodeStoredEither(aggregate, event), (error) => error.message)
}

/** The cursor just after the last of some events. */
export const cursorAfter = (events: ReadonlyArray<LoggedEvent>): LogCursor => {
  const last = events[events.length - 1]!
  return { commitOrder: last.commitOrder, position: last.position }
}

/** A failure as a dead letter and a log line say it: `Tag: message`. */
export const describeCause = (cause: Cause.Cause<unknown>): string => {
  const failure = Cause.squash(cause)
  if (failure instanceof Error) return `${failure.name}: ${failure.message}`
  if (typeof failure === "object" && failure !== null && "_tag" in failure) {
    const message = (failure as { message?: unknown }).message
    return `${String((failure as { _tag: unknown })._tag)}${
      typeof message === "string" && message !== "" ? `: ${message}` : ""
    }`
  }
  return String(failure)
}

/** An event as logs name it. */
export const describeEvent = (event: DomainEvent.Stored) =>
  `${event.eventType} ${event.eventId} of ${event.aggregateType}/${event.aggregateId}@${event.version}`

/** The annotations of an event's log lines (with the worker's subscription, partition and relay). */
export const eventAnnotations = (event: DomainEvent.Stored) => ({
  eventId: event.eventId,
  eventType: event.eventType,
  aggregate: `${event.aggregateType}/${event.aggregateId}`,
  version: event.version
})
