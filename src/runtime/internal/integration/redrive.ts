/**
 * Redrive of an integration consumer's dead letters: the consumer's layer reads its dead letters
 * every poll interval; for each partition key with a letter marked `redrive` (by
 * `effect-ddd dead-letters redrive` or `DeadLetters.setStatus`), it handles the kept messages
 * again in broker order, each in a transaction with its inbox row that removes its dead letter.
 * When one fails again it stays (open, its attempts added up) and the rest stays parked behind it.
 */
import { Cause, Clock, Effect, Either, Exit } from "effect"
import type * as DeadLetters from "../../../ports/DeadLetters.js"
import { describeCause } from "../delivery/events.js"
import { apply, type Consumer, decode, type Kept, type Runtime, type State } from "./message.js"

const kept = (letter: DeadLetters.DeadLetter, message: DeadLetters.Message): Kept => ({
  ...message,
  id: letter.eventId,
  sequence: letter.position
})

/** Redeliver one dead letter; false when it failed again (and was recorded so). */
const redeliver = (runtime: Runtime, consumer: Consumer, letter: DeadLetters.DeadLetter) =>
  Effect.gen(function*() {
    if (letter.message === undefined) {
      yield* Effect.logWarning(`${consumer.name}: dead letter ${letter.id} keeps no message: it cannot be redriven`)
      yield* runtime.deadLetters.setStatus(letter.id, "open")
      return false
    }
    const message = kept(letter, letter.message)
    const decoded = decode(consumer, message)
    const outcome = Either.isLeft(decoded)
      ? Exit.fail(decoded.left)
      : yield* Effect.exit(
        apply(runtime, consumer, decoded.right, message, letter.attempts + 1, runtime.deadLetters.remove([letter.id]))
      )
    if (Exit.isSuccess(outcome)) {
      yield* Effect.logInfo(`${consumer.name}: redrive delivered message ${letter.eventId}`)
      return true
    }
    if (Cause.isInterruptedOnly(outcome.cause)) return yield* Effect.failCause(outcome.cause)
    const error = Either.isLeft(decoded) ? decoded.left : describeCause(outcome.cause)
    yield* runtime.deadLetters.add({
      ...letter,
      kind: Either.isLeft(decoded) ? "poison" : letter.kind === "parked" ? "failed" : letter.kind,
      error,
      attempts: letter.attempts + 1,
      lastFailedAt: yield* Clock.currentTimeMillis,
      status: "open"
    })
    yield* Effect.logError(`${consumer.name}: redrive of message ${letter.eventId} failed again: ${error}`)
    return false
  })

/** Read the consumer's dead letters: carry out requested redrives, and refresh the parked keys. */
export const run = (runtime: Runtime, consumer: Consumer, state: State) =>
  Effect.gen(function*() {
    const letters = yield* runtime.deadLetters.list({ subscription: consumer.name })
    const requested = new Set(letters.filter((l) => l.status === "redrive").map((l) => l.aggregateId))
    for (const key of requested) {
      const sequence = letters.filter((l) => l.aggregateId === key).sort((a, b) => a.position - b.position)
      for (const [i, letter] of sequence.entries()) {
        if (yield* redeliver(runtime, consumer, letter)) continue
        for (const rest of sequence.slice(i + 1)) {
          if (rest.status === "redrive") yield* runtime.deadLetters.setStatus(rest.id, "open")
        }
        break
      }
    }
    const left = requested.size === 0 ? letters : yield* runtime.deadLetters.list({ subscription: consumer.name })
    state.parked = new Set(left.map((l) => l.aggregateId))
  })
