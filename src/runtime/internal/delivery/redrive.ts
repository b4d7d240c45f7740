/**
 * Redrive: the partition's owner redelivers the dead-lettered sequence of each aggregate whose
 * redrive was requested, in version order, each event in a transaction of its own (fenced by the
 * lease, like a checkpoint) that removes its dead letter. When it fails, the event is
 * dead-lettered again (its attempts add up) and the rest of the sequence stays parked behind it.
 */
import { Cause, Clock, Effect, Either, Exit, Option } from "effect"
import * as Checkpoints from "../../../ports/Checkpoints.js"
import type * as DeadLetters from "../../../ports/DeadLetters.js"
import type { LogCursor } from "../../../ports/EventStore.js"
import * as CommitSignal from "../commitSignal.js"
import { deliver } from "./batch.js"
import type { Engine, Partition } from "./context.js"
import { aggregateKey, decode, describeCause } from "./events.js"

/** A payload that still cannot be decoded: retrying it cannot help. */
class StillPoison {
  readonly _tag = "StillPoison"
  constructor(readonly detail: string) {}
}

const describeLetter = (letter: DeadLetters.DeadLetter) =>
  `${letter.eventType} ${letter.eventId} of ${letter.aggregateType}/${letter.aggregateId}@${letter.version}`

/** The aggregates whose redrive was requested, each with its whole dead-lettered sequence in version order. */
export const requestedSequences = (letters: ReadonlyArray<DeadLetters.DeadLetter>) => {
  const requested = new Set(
    letters.filter((l) => l.status === "redrive").map((l) => aggregateKey(l.aggregateType, l.aggregateId))
  )
  const sequences = new Map<string, Array<DeadLetters.DeadLetter>>()
  for (const letter of letters) {
    const key = aggregateKey(letter.aggregateType, letter.aggregateId)
    if (!requested.has(key)) continue
    const sequence = sequences.get(key) ?? []
    sequence.push(letter)
    sequences.set(key, sequence)
  }
  return Array.from(sequences.values(), (sequence) => sequence.sort((a, b) => a.version - b.version))
}

export const make = (engine: Engine, partition: Partition) => {
  const { subscription } = partition

  /** Redeliver one dead letter; false when it failed again (and was recorded so). */
  const redeliver = Effect.fnUntraced(function*(dead: DeadLetters.DeadLetter, cursor: LogCursor, token: number) {
    const [stored] = yield* engine.store.readStream(dead.aggregateType, dead.aggregateId, dead.version - 1)
    let attempts = 0
    const handle = Effect.suspend(() => {
      if (stored === undefined || stored.version !== dead.version) return Effect.void
      const decoded = decode(subscription, { ...stored })
      return Either.isLeft(decoded)
        ? Effect.fail(new StillPoison(decoded.left))
        : deliver(engine, partition, decoded.right)
    })
    const settle = Effect.zipRight(
      engine.deadLetters.remove([dead.id]),
      // fenced like a checkpoint: a process that lost the lease cannot redeliver
      engine.checkpoints.save(subscription.name, partition.index, cursor, token)
    )
    const inTransaction = (effect: Effect.Effect<void, unknown>) =>
      CommitSignal.collecting(engine.signal, engine.store.withTransaction(effect))
    const attempt = Effect.suspend(() => {
      attempts++
      // a subscription that is not `inTransaction` handles the event before the transaction
      return subscription.inTransaction === false
        ? Effect.zipRight(handle, inTransaction(settle))
        : inTransaction(Effect.zipRight(handle, settle))
    }).pipe(Effect.tapErrorCause((cause) =>
      Effect.logWarning(
        `${subscription.name}: redrive of ${describeLetter(dead)} failed (attempt ${attempts}): ${describeCause(cause)}`
      )
    ))
    const delivered = yield* Effect.exit(attempt)
    if (Exit.isSuccess(delivered)) {
      yield* Effect.logInfo(`${subscription.name}: redrive delivered ${describeLetter(dead)}`)
      return true
    }
    if (Option.exists(Cause.failureOption(delivered.cause), (e) => e instanceof Checkpoints.LeaseLost)) {
      return yield* Effect.failCause(delivered.cause)
    }
    const error = describeCause(delivered.cause)
    yield* engine.deadLetters.add({
      ...dead,
      kind: dead.kind === "parked" ? "failed" : dead.kind,
      error,
      attempts: dead.attempts + attempts,
      lastFailedAt: yield* Clock.currentTimeMillis,
      status: "open"
    })
    yield* Effect.logError(
      `${subscription.name}: redrive of ${describeLetter(dead)} failed again after ${attempts} attempt(s): ${error}`
    )
    return false
  })

  /** Carry out the requested redrives of the partition's dead letters. */
  return Effect.fnUntraced(function*(
    letters: ReadonlyArray<DeadLetters.DeadLetter>,
    cursor: LogCursor,
    token: number
  ) {
    for (const sequence of requestedSequences(letters)) {
      for (const [i, dead] of sequence.entries()) {
        if (yield* redeliver(dead, cursor, token)) continue
        // the rest stays parked behind it; a requested redrive of them is withdrawn
        for (const rest of sequence.slice(i + 1)) {
          if (rest.status === "redrive") yield* engine.deadLetters.setStatus(rest.id, "open")
        }
        break
      }
    }
  })
}
