/**
 * Publishing a batch, the same way for every adapter: messages of one partition key one after the
 * other (a later one only once the earlier one was acknowledged), keys concurrently; a failure
 * stops its key, so a retry of the whole batch cannot store a later message before an earlier one.
 */
import { Effect, Either } from "effect"
import { MessageBrokerError, type OutgoingMessage, type PublishAck } from "../MessageBroker.js"
import { byKey, invalidMessage } from "./subjects.js"

const severity = { Rejected: 3, Timeout: 2, Unavailable: 1 } as const

export const publishBatch = (
  messages: ReadonlyArray<OutgoingMessage>,
  publishOne: (message: OutgoingMessage) => Effect.Effect<PublishAck, MessageBrokerError>,
  concurrency: number
): Effect.Effect<ReadonlyArray<PublishAck>, MessageBrokerError> =>
  Effect.suspend(() => {
    for (const message of messages) {
      const invalid = invalidMessage(message)
      if (invalid !== undefined) return Effect.fail(new MessageBrokerError({ reason: "Rejected", detail: invalid }))
    }
    const acks: Array<PublishAck | undefined> = new Array(messages.length)
    const chain = (group: ReadonlyArray<readonly [number, OutgoingMessage]>) =>
      Effect.either(Effect.forEach(group, ([i, message]) =>
        Effect.map(publishOne(message), (ack) => {
          acks[i] = ack
        }), { discard: true }))
    return Effect.flatMap(
      Effect.forEach(byKey(messages), chain, { concurrency }),
      (results) => {
        const errors = results.filter(Either.isLeft).map((r) => r.left)
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
    )
  })
