/**
 * Consuming a durable: `consume()` with a callback is started inside `acquireRelease` and stopped
 * with `messages.stop()`, so interrupting the consumption never hangs and leaves no timer behind.
 * A consumer that disappears (deleted, the stream recreated) is provisioned and consumed again.
 */
import type { ConsumerMessages, JsMsg } from "@nats-io/jetstream"
import { Duration, Effect, Option, Schedule } from "effect"
import { type IncomingMessage, MessageBrokerError } from "../../../ports/MessageBroker.js"
import type { Handles, Link } from "./connection.js"
import { toBrokerError } from "./errors.js"
import { parseWireSubject } from "./wire.js"

export interface DurableStream {
  readonly stream: string
  readonly durable: string
  readonly prefix: string
  /** Provisions the durable (again). */
  readonly ensure: (handles: Handles) => Effect.Effect<unknown, MessageBrokerError>
  /** Whether a message is for this consumer (several patterns share one filter). */
  readonly selects: (subject: string) => boolean
  readonly batch: number
  readonly ackTimeout: Duration.Duration
  readonly reconnectWait: Duration.Duration
}

const headersOf = (m: JsMsg): Record<string, string> => {
  const headers: Record<string, string> = {}
  if (m.headers === undefined) return headers
  for (const name of m.headers.keys()) {
    if (!name.startsWith("Nats-")) headers[name] = m.headers.get(name)
  }
  return headers
}

const settleWith = <A>(link: Link<A>, what: string, send: () => void) =>
  Effect.flatMap(link.current, ({ nc }) =>
    Effect.tryPromise({
      try: async () => {
        send()
        // the settlement is a fire-and-forget publish: the flush's round trip confirms the server has it
        await nc.flush()
      },
      catch: toBrokerError(what)
    }))

/**
 * The message as the port's, settled through `link`. Its settlements are made on first use (a
 * message is usually only acknowledged), and the acknowledgement checks the connection's state
 * without a step of the fiber.
 */
export const incoming = <A>(link: Link<A>, durable: DurableStream, m: JsMsg): Option.Option<IncomingMessage> => {
  const parsed = parseWireSubject(durable.prefix, m.subject)
  if (parsed === undefined || !durable.selects(parsed.subject)) return Option.none()
  const id = m.headers?.has("Nats-Msg-Id") ? m.headers.get("Nats-Msg-Id") : `${durable.stream}:${m.seq}`
  const timeout = Duration.toMillis(durable.ackTimeout)
  return Option.some({
    id,
    subject: parsed.subject,
    partitionKey: parsed.partitionKey,
    headers: headersOf(m),
    payload: m.data,
    deliveryCount: m.info.deliveryCount,
    sequence: m.seq,
    get ack() {
      const ack = Effect.tryPromise({
        try: () => m.ackAck({ timeout }),
        catch: toBrokerError(`cannot acknowledge message ${id}`)
      })
      return link.isConnected() ? ack : Effect.zipRight(link.current, ack)
    },
    nak: (delay) =>
      settleWith(
        link,
        `cannot nak message ${id}`,
        () => m.nak(delay === undefined ? undefined : Duration.toMillis(delay))
      ),
    // no reason: nats-server before 2.11 ignores a term with a reason (the message comes back)
    get term() {
      return settleWith(link, `cannot terminate message ${id}`, () => m.term())
    },
    get inProgress() {
      return settleWith(link, `cannot extend message ${id}`, () => m.working())
    }
  })
}

/**
 * Consume one durable, handing each message to `offer` from nats.js's subscription callback (no
 * iterator: each message costs a callback, not an async iterator step and a promise the fiber waits
 * for), until the consumption ends: re-provisioned and restarted when it ends or fails for a reason
 * other than `Rejected` (with which it fails). How many messages wait is bounded by the durable's
 * `max_ack_pending`: the server sends no more until some are settled.
 */
export const durableLoop = <A>(
  link: Link<A>,
  durable: DurableStream,
  offer: (message: IncomingMessage) => void
): Effect.Effect<never, MessageBrokerError> => {
  const once = Effect.scoped(
    Effect.gen(function*() {
      const handles = yield* link.await
      yield* durable.ensure(handles)
      const consumer = yield* Effect.tryPromise({
        try: () => handles.js.consumers.get(durable.stream, durable.durable),
        catch: toBrokerError(`cannot get consumer ${durable.durable}`)
      })
      const messages = yield* Effect.acquireRelease(
        Effect.tryPromise({
          try: (): Promise<ConsumerMessages> =>
            consumer.consume({
              max_messages: durable.batch,
              callback: (m) => {
                const message = incoming(link, durable, m)
                if (Option.isSome(message)) offer(message.value)
                // not for this consumer (several patterns share one filter): settled here
                else m.ack()
              }
            }),
          catch: toBrokerError(`cannot consume ${durable.durable}`)
        }),
        (messages) => Effect.sync(() => messages.stop())
      )
      const ended = yield* Effect.promise(() => messages.closed())
      // the server ended the consumption (consumer deleted...) or it failed: start again
      return yield* Effect.fail(
        ended instanceof Error
          ? toBrokerError(`consumer ${durable.durable} failed`)(ended)
          : new MessageBrokerError({ reason: "Unavailable", detail: `consumer ${durable.durable} stopped` })
      )
    })
  )
  return Effect.retry(
    once,
    Schedule.spaced(durable.reconnectWait).pipe(
      Schedule.whileInput((error: MessageBrokerError) => error.reason !== "Rejected")
    )
  )
}
