/**
 * Consuming a durable (the shape of the cookbook's Effect wrapper): `consume()` is started inside
 * `acquireRelease` and stopped with `messages.stop()` before the iterator is returned, so
 * interrupting the consumption never hangs and leaves no timer behind. A consumer that
 * disappears (deleted, the stream recreated) is provisioned and consumed again.
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
    ack: Effect.flatMap(link.current, () =>
      Effect.tryPromise({
        try: () => m.ackAck({ timeout }),
        catch: toBrokerError(`cannot acknowledge message ${id}`)
      })),
    nak: (delay) =>
      settleWith(
        link,
        `cannot nak message ${id}`,
        () => m.nak(delay === undefined ? undefined : Duration.toMillis(delay))
      ),
    // no reason: nats-server before 2.11 ignores a term with a reason (the message comes back)
    term: settleWith(link, `cannot terminate message ${id}`, () => m.term()),
    inProgress: settleWith(link, `cannot extend message ${id}`, () => m.working())
  })
}

/**
 * Consume one durable, handing each message to `offer`: a loop in one fiber, re-provisioned and
 * restarted when it fails for a reason other than `Rejected` (with which it fails). One loop per
 * durable feeding one queue costs a fraction of a `Stream` per durable merged with
 * `Stream.mergeAll` (whose steps per message were most of the consumer's CPU).
 */
export const durableLoop = <A>(
  link: Link<A>,
  durable: DurableStream,
  offer: (message: IncomingMessage) => Effect.Effect<unknown>
): Effect.Effect<never, MessageBrokerError> => {
  const once = Effect.scoped(
    Effect.gen(function*() {
      const handles = yield* link.await
      yield* durable.ensure(handles)
      const consumer = yield* Effect.tryPromise({
        try: () => handles.js.consumers.get(durable.stream, durable.durable),
        catch: toBrokerError(`cannot get consumer ${durable.durable}`)
      })
      const { iterator } = yield* Effect.acquireRelease(
        Effect.tryPromise({
          try: async () => {
            const messages: ConsumerMessages = await consumer.consume({ max_messages: durable.batch })
            return { messages, iterator: messages[Symbol.asyncIterator]() }
          },
          catch: toBrokerError(`cannot consume ${durable.durable}`)
        }),
        ({ iterator, messages }) =>
          Effect.promise(async () => {
            messages.stop()
            await iterator.return?.()
          })
      )
      const next = Effect.tryPromise({
        try: () => iterator.next(),
        catch: toBrokerError(`consumer ${durable.durable} failed`)
      })
      const loop: Effect.Effect<never, MessageBrokerError> = Effect.flatMap(next, (result) => {
        // the server ended the consumption (consumer deleted...): start again
        if (result.done) {
          return Effect.fail(
            new MessageBrokerError({ reason: "Unavailable", detail: `consumer ${durable.durable} stopped` })
          )
        }
        const message = incoming(link, durable, result.value)
        if (Option.isSome(message)) return Effect.zipRight(offer(message.value), loop)
        // not for this consumer (several patterns share one filter): settled here
        result.value.ack()
        return loop
      })
      return yield* loop
    })
  )
  return Effect.retry(
    once,
    Schedule.spaced(durable.reconnectWait).pipe(
      Schedule.whileInput((error: MessageBrokerError) => error.reason !== "Rejected")
    )
  )
}
