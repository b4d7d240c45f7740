/**
 * A publication is a subscription whose handler maps a domain event to an integration event,
 * encodes it as a CloudEvent and publishes it, waiting for the broker's acknowledgement: the
 * delivery engine gives it partitions, order per aggregate, retries, dead letters, redrive and
 * checkpoints, and the checkpoint moves only after the broker has the message.
 */
import { Effect, Schedule } from "effect"
import * as CloudEvent from "../../../core/CloudEvent.js"
import type * as DomainEvent from "../../../core/DomainEvent.js"
import * as IntegrationEvent from "../../../core/IntegrationEvent.js"
import * as Subscription from "../../../core/Subscription.js"
import * as Telemetry from "../../../operations/Telemetry.js"
import { MessageBroker, MessageBrokerError } from "../../../ports/MessageBroker.js"

/** A contract and its data (checked against each other by the public constructors). */
export interface Routed<C extends IntegrationEvent.Any> {
  readonly contract: C
  readonly data: IntegrationEvent.Data<C>
}

export interface Options<S extends ReadonlyArray<Subscription.Source<any>>, C extends IntegrationEvent.Any> {
  readonly name: string
  readonly events: S
  readonly route: (
    event: Subscription.EventOf<S[number]>,
    envelope: DomainEvent.Envelope<Subscription.EventOf<S[number]>>
  ) => Routed<C> | undefined
  readonly source: string
  readonly retry?: Schedule.Schedule<unknown, unknown> | undefined
  readonly partitions?: number | undefined
}

/** A broker failure that a later attempt can get past: not reachable, or no answer in time. */
export const isTransient = (error: unknown): boolean =>
  error instanceof MessageBrokerError && error.reason !== "Rejected"

/**
 * While the broker is unreachable: exponential from 100 ms with jitter, at most 5 s apart, for as
 * long as it takes (dead-lettering every event of an outage would only move the backlog).
 */
export const outageRetry: Schedule.Schedule<unknown, unknown> = Schedule.exponential("100 millis").pipe(
  Schedule.jittered,
  Schedule.either(Schedule.spaced("5 seconds")),
  Schedule.whileInput(isTransient)
)

/**
 * The retry of a publication: the outage retry while the broker is unreachable, `retry` for other
 * failures; each is stepped only by its own failures, so an outage does not spend `retry`.
 */
export const retryOf = (retry: Schedule.Schedule<unknown, unknown>): Schedule.Schedule<unknown, unknown> =>
  Schedule.makeWithState(
    { outage: outageRetry.initial, other: retry.initial },
    (now, input: unknown, state) =>
      isTransient(input)
        ? Effect.map(outageRetry.step(now, input, state.outage), ([outage, out, decision]) =>
          [{ ...state, outage }, out, decision] as const)
        : Effect.map(retry.step(now, input, state.other), ([other, out, decision]) =>
          [{ ...state, other }, out, decision] as const)
  )

const defined = <A extends object>(record: A) =>
  Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined)) as {
    [K in keyof A]: Exclude<A[K], undefined>
  }

/** The broker message carrying `data` under the contract, for the domain event in `envelope`. */
export const message = <C extends IntegrationEvent.Any>(
  contract: C,
  data: IntegrationEvent.Data<C>,
  envelope: DomainEvent.Envelope<unknown>,
  source: string
) =>
  Effect.gen(function*() {
    // the current span (the delivery's) when tracing, else the trace context stored with the event
    const trace = yield* Telemetry.traceContext(envelope.metadata)
    const event = yield* IntegrationEvent.encode(contract, data, {
      id: IntegrationEvent.messageId(contract, envelope.eventId),
      source,
      subject: envelope.aggregateId,
      time: envelope.occurredAt,
      partitionkey: envelope.aggregateId,
      ...defined({
        correlationid: envelope.metadata.correlationId,
        causationid: envelope.eventId,
        traceparent: trace.traceparent,
        tracestate: trace.tracestate
      })
    })
    const binary = yield* CloudEvent.toBinary(event)
    return {
      id: event.id,
      subject: contract.eventType,
      partitionKey: envelope.aggregateId,
      headers: binary.headers,
      payload: binary.payload
    }
  })

export const make = <S extends ReadonlyArray<Subscription.Source<any>>, C extends IntegrationEvent.Any>(
  options: Options<S, C>
): Subscription.Subscription<
  Subscription.EventOf<S[number]>,
  MessageBrokerError | IntegrationEvent.IntegrationEventEncodeError | CloudEvent.CloudEventError,
  MessageBroker
> => {
  const subscription = Subscription.make({
    name: options.name,
    events: options.events,
    retry: retryOf(options.retry ?? Subscription.defaultRetry),
    ...(options.partitions === undefined ? {} : { partitions: options.partitions }),
    handle: (event, envelope) =>
      Effect.gen(function*() {
        const routed = options.route(event, envelope)
        if (routed === undefined) return
        const outgoing = yield* message(routed.contract, routed.data, envelope, options.source)
        const broker = yield* MessageBroker
        const [ack] = yield* broker.publish([outgoing])
        if (ack?.duplicate === true) {
          yield* Effect.logDebug(`${options.name}: message ${outgoing.id} was already published (duplicate)`)
        }
      })
  })
  // published before the checkpoint's transaction, never inside it: a broker round trip must not
  // hold a database transaction (and SQLite's single connection) open
  return { ...subscription, kind: "publication", inTransaction: false }
}
