/**
 * What an integration consumer does with one broker message: decode it (poison when it cannot
 * be), apply it in a local transaction with an inbox row (once per message id), then settle it:
 * `ack` after the commit, `nak` with the retry schedule's delay, or, once the schedule gives up
 * or for poison, a dead letter and `term`. Later messages of a key with a dead letter are parked
 * behind it (dead-lettered as `parked` and terminated), so the key's order holds.
 */
import { Cause, Clock, Effect, Either, Option, type Schedule } from "effect"
import * as CloudEvent from "../../../core/CloudEvent.js"
import * as IntegrationEvent from "../../../core/IntegrationEvent.js"
import * as Telemetry from "../../../operations/Telemetry.js"
import type * as DeadLetters from "../../../ports/DeadLetters.js"
import type * as EventStore from "../../../ports/EventStore.js"
import type * as Inbox from "../../../ports/Inbox.js"
import type { IncomingMessage, MessageBrokerError } from "../../../ports/MessageBroker.js"
import { describeCause } from "../delivery/events.js"
import { delayAfter } from "./retry.js"

/** A consumer as the runtime sees it. */
export interface Consumer {
  readonly name: string
  readonly events: ReadonlyArray<IntegrationEvent.Accepting<string, any>>
  readonly handle: (received: any) => Effect.Effect<void, unknown, any>
  readonly retry: Schedule.Schedule<unknown, unknown>
}

/** What the consumers of one layer share. */
export interface Runtime {
  readonly store: EventStore.Service
  readonly inbox: Inbox.Service
  readonly deadLetters: DeadLetters.Service
  readonly tracing: boolean
}

/** The state of one running consumer. */
export interface State {
  /** Partition keys with a dead letter: their later messages are parked. */
  parked: Set<string>
}

/** The part of a broker message a dead letter keeps, and that a redrive handles again. */
export type Kept = Pick<IncomingMessage, "id" | "subject" | "partitionKey" | "headers" | "payload" | "sequence">

/** The message decoded with what the consumer accepts, or why it is poison. */
export const decode = (
  consumer: Consumer,
  message: Kept
): Either.Either<IntegrationEvent.Received<string, any>, string> =>
  Either.flatMap(
    Either.mapLeft(CloudEvent.fromBinary({ headers: message.headers, payload: message.payload }), (e) => e.message),
    (event) =>
      Either.mapLeft(
        IntegrationEvent.decode(consumer.events, event) as Either.Either<
          IntegrationEvent.Received<string, any>,
          IntegrationEvent.IntegrationEventDecodeError
        >,
        (e) => `${e.reason}: ${e.message}`
      )
  )

/** Handle a decoded message in a transaction with its inbox row; false when it was applied before. */
export const apply = (
  runtime: Runtime,
  consumer: Consumer,
  received: IntegrationEvent.Received<string, any>,
  message: Kept,
  deliveryCount: number,
  /** Also in the transaction (a redrive removes the dead letter). */
  also?: Effect.Effect<void, unknown>
): Effect.Effect<boolean, unknown> => {
  const once = Effect.flatMap(
    runtime.inbox.markProcessed(consumer.name, message.id),
    (first) => first ? Effect.as(consumer.handle(received), true) : Effect.succeed(false)
  )
  const transaction = runtime.store.withTransaction(
    also === undefined ? once : Effect.zipLeft(once, also)
  ) as Effect.Effect<boolean, unknown>
  if (!runtime.tracing) return transaction
  // the producer's span (from the message's traceparent) is the parent: the trace continues
  const parent = Telemetry.fromTraceparent(received.event.traceparent)
  const traced = Effect.withSpan(transaction, Telemetry.spans.consume, {
    captureStackTrace: false,
    kind: "consumer",
    attributes: {
      "effect_ddd.consumer": consumer.name,
      "effect_ddd.message_id": message.id,
      "effect_ddd.event_type": received.event.type,
      "effect_ddd.partition_key": message.partitionKey,
      "effect_ddd.delivery_count": deliveryCount
    },
    ...(Option.isSome(parent) ? { parent: parent.value } : { root: true })
  })
  return received.event.tracestate !== undefined && Option.isSome(parent)
    ? Effect.locally(traced, Telemetry.currentTracestate, received.event.tracestate)
    : traced
}

/** Record a dead letter of a message (its id is the consumer's name and the message id). */
export const deadLetter = (
  runtime: Runtime,
  consumer: Consumer,
  message: Kept,
  failure: { readonly kind: DeadLetters.DeadLetter["kind"]; readonly error: string; readonly attempts: number }
) =>
  Effect.flatMap(Clock.currentTimeMillis, (now) =>
    runtime.store.withTransaction(runtime.deadLetters.add({
      id: `${consumer.name}:${message.id}`,
      subscription: consumer.name,
      partition: 0,
      kind: failure.kind,
      eventId: message.id,
      position: message.sequence,
      aggregateType: "message",
      aggregateId: message.partitionKey,
      version: 0,
      eventType: message.subject,
      error: failure.error,
      attempts: failure.attempts,
      firstFailedAt: now,
      lastFailedAt: now,
      status: "open",
      message: {
        subject: message.subject,
        partitionKey: message.partitionKey,
        headers: message.headers,
        payload: message.payload
      }
    })))

const logSettleFailure = (consumer: Consumer, message: IncomingMessage, what: string) => (error: MessageBrokerError) =>
  Effect.logWarning(
    `${consumer.name}: cannot ${what} message ${message.id} (it comes back after the ack wait): ${error.message}`
  )

/** Settle with `settle` after recording a dead letter; the key's later messages are parked from now on. */
const giveUp = (
  runtime: Runtime,
  consumer: Consumer,
  state: State,
  message: IncomingMessage,
  failure: { readonly kind: DeadLetters.DeadLetter["kind"]; readonly error: string; readonly attempts: number }
) =>
  Effect.gen(function*() {
    yield* deadLetter(runtime, consumer, message, failure)
    state.parked.add(message.partitionKey)
    yield* failure.kind === "parked"
      ? Effect.logWarning(
        `${consumer.name}: message ${message.id} (${message.subject}) parked behind a dead letter of key ${message.partitionKey}`
      )
      : Effect.logError(
        `${consumer.name}: message ${message.id} (${message.subject}) dead-lettered (${failure.kind}) after ${failure.attempts} attempt(s): ${failure.error}`
      )
    yield* Effect.catchAll(message.term, logSettleFailure(consumer, message, "terminate"))
  })

/** Retry a failed message later (nak with the schedule's delay), or give up on it once the schedule does. */
const retryOrGiveUp = (
  runtime: Runtime,
  consumer: Consumer,
  state: State,
  message: IncomingMessage,
  cause: Cause.Cause<unknown>
) =>
  Effect.gen(function*() {
    const error = describeCause(cause)
    const delay = yield* delayAfter(consumer.retry, message.deliveryCount, Cause.squash(cause))
    if (Option.isNone(delay)) {
      return yield* giveUp(runtime, consumer, state, message, {
        kind: "failed",
        error,
        attempts: message.deliveryCount
      })
    }
    yield* Effect.logWarning(
      `${consumer.name}: message ${message.id} (${message.subject}) failed (attempt ${message.deliveryCount}), retried: ${error}`
    )
    yield* Effect.catchAll(message.nak(delay.value), logSettleFailure(consumer, message, "nak"))
  })

/** What is logged about a message is annotated with the consumer and the message id. */
const annotated = <A, E, R>(consumer: Consumer, message: IncomingMessage, self: Effect.Effect<A, E, R>) =>
  Effect.annotateLogs(self, { consumer: consumer.name, messageId: message.id })

/**
 * Process one delivered message, settling it; never fails (a store failure leaves it unsettled: it
 * comes back). Paid by every message: the path of one that applies is a few steps of the fiber
 * (no generator, the log annotations only where something is logged).
 */
export const process = (
  runtime: Runtime,
  consumer: Consumer,
  state: State,
  message: IncomingMessage
): Effect.Effect<void> =>
  Effect.catchAllCause(
    Effect.suspend(() => {
      const decoded = decode(consumer, message)
      if (Either.isLeft(decoded)) {
        return annotated(
          consumer,
          message,
          giveUp(runtime, consumer, state, message, { kind: "poison", error: decoded.left, attempts: 1 })
        )
      }
      if (state.parked.has(message.partitionKey)) {
        const error = "an earlier message of this partition key is dead-lettered"
        return annotated(
          consumer,
          message,
          giveUp(runtime, consumer, state, message, { kind: "parked", error, attempts: 0 })
        )
      }
      return Effect.matchCauseEffect(apply(runtime, consumer, decoded.right, message, message.deliveryCount), {
        onSuccess: () =>
          Effect.catchAll(
            message.ack,
            (error) => annotated(consumer, message, logSettleFailure(consumer, message, "acknowledge")(error))
          ),
        onFailure: (cause) =>
          Cause.isInterruptedOnly(cause)
            ? Effect.failCause(cause)
            : annotated(consumer, message, retryOrGiveUp(runtime, consumer, state, message, cause))
      })
    }),
    (cause) =>
      Cause.isInterruptedOnly(cause) ? Effect.failCause(cause) : annotated(
        consumer,
        message,
        Effect.logError(
          `${consumer.name}: message ${message.id} left unsettled (it comes back after the ack wait): ${
            describeCause(cause)
          }`
        )
      )
  ) as Effect.Effect<void>
