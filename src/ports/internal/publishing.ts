/**
 * Publishing a batch, the same way for every adapter: messages of one partition key one after the
 * other (a later one only once the earlier one was acknowledged), keys concurrently; a failure
 * stops its key, so a retry of the whole batch cannot store a later message before an earlier one.
 */
import { Effect, Either } from "effect"
import { MessageBrokerError, type OutgoingMessage, type PublishAck } from "../MessageBroker.js"
import { byKey, invalidMessage } from "./subjects.js"

const severity = { Rejected: 3, Timeout: 2, Unavailable: 1 } as const

const validate = (messages: ReadonlyArray<OutgoingMessage>): MessageBrokerError | undefined => {
  for (const message of messages) {
    const invalid = invalidMessage(message)
    if (invalid !== undefined) return new MessageBrokerError({ reason: "Rejected", detail: invalid })
  }
  return undefined
}

const outcome = (
  acks: ReadonlyArray<PublishAck | undefined>,
  errors: ReadonlyArray<MessageBrokerError>
): Effect.Effect<ReadonlyArray<PublishAck>, MessageBrokerError> => {
  if (errors.length === 0) return Effect.succeed(acks as ReadonlyArray<PublishAck>)
  const worst = errors.reduce((a, b) => (severity[b.reason] > severity[a.reason] ? b : a))
  return Effect.fail(
    new MessageBrokerError({
      reason: worst.reason,
      detail: [...new Set(errors.map((e) => e.detail))].join("; "),
      acknowledged: acks.filter((ack) => ack !== undefined),
      cause: worst.cause
    })
  )
}

/**
 * The same with a promise-returning `send`: the chains run as plain promises inside one effect
 * (a fiber per key costs more than the publish itself on a fast broker).
 */
export const publishBatchAsync = (
  messages: ReadonlyArray<OutgoingMessage>,
  send: (message: OutgoingMessage) => Promise<PublishAck>,
  toError: (message: OutgoingMessage, cause: unknown) => MessageBrokerError
): Effect.Effect<ReadonlyArray<PublishAck>, MessageBrokerError> =>
  Effect.suspend(() => {
    const invalid = validate(messages)
    if (invalid !== undefined) return Effect.fail(invalid)
    return Effect.flatMap(
      Effect.promise(async () => {
        const acks: Array<PublishAck | undefined> = new Array(messages.length)
        const errors: Array<MessageBrokerError> = []
        await Promise.all(
          byKey(messages).map(async (group) => {
            for (const [i, message] of group) {
              try {
                acks[i] = await send(message)
              } catch (cause) {
                errors.push(toError(message, cause))
                return
              }
            }
          })
        )
        return { acks, errors }
      }),
      ({ acks, errors }) => outcome(acks, errors)
    )
  })

export const publishBatch = (
  messages: ReadonlyArray<OutgoingMessage>,
  publishOne: (message: OutgoingMessage) => Effect.Effect<PublishAck, MessageBrokerError>,
  concurrency: number
): Effect.Effect<ReadonlyArray<PublishAck>, MessageBrokerError> =>
  Effect.suspend(() => {
    const invalid = validate(messages)
    if (invalid !== undefined) return Effect.fail(invalid)
    const acks: Array<PublishAck | undefined> = new Array(messages.length)
    const chain = (group: ReadonlyArray<readonly [number, OutgoingMessage]>) =>
      Effect.either(Effect.forEach(group, ([i, message]) =>
        Effect.map(publishOne(message), (ack) => {
          acks[i] = ack
        }), { discard: true }))
    return Effect.flatMap(
      Effect.forEach(byKey(messages), chain, { concurrency }),
      (results) => outcome(acks, results.filter(Either.isLeft).map((r) => r.left))
    )
  })
