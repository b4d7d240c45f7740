/**
 * Redrive: the partition's owner redelivers the dead-lettered sequence of each aggregate whose
 * redrive was requested, in version order. Each event runs the subscription's retry schedule again,
 * as a first delivery does: every attempt is a transaction of its own (fenced by the lease, like a
 * checkpoint) that removes its dead letter, and the schedule's delays pass outside any transaction
 * (the worker's heartbeat keeps the lease meanwhile). When the schedule gives up, the event is
 * dead-lettered again (its attempts add up) and the rest of the sequence stays parked behind it.
 */
import { Cause, Clock, Effect, Either, Exit, Option, Schedule } from "effect"
import type * as DomainEvent from "../../../core/DomainEvent.js"
import * as Checkpoints from "../../../ports/Checkpoints.js"
import type * as DeadLetters from "../../../ports/DeadLetters.js"
import type { LogCursor } from "../../../ports/EventStore.js"
import type { RedriveOutcome } from "../../Relay.js"
import * as CommitSignal from "../commitSignal.js"
import { deliver, DeliveryFailed } from "./batch.js"
import type { Engine, Partition } from "./context.js"
import { aggregateKey, decode, describeCause } from "./events.js"

/** A payload that still cannot be decoded: retrying it cannot help. */
class StillPoison {
  readonly _tag = "StillPoison"
  constructor(readonly detail: string) {}
}

const describeLetter = (letter: DeadLetters.DeadLetter) =>
  `${letter.eventType} ${letter.eventId} of ${letter.aggregateType}/${letter.aggregateId}@${letter.version}`

/** The annotations of the log lines about a dead letter (beside the subscription's). */
export const annotations = (letter: DeadLetters.DeadLetter) => ({
  eventId: letter.eventId,
  eventType: letter.eventType,
  aggregate: `${letter.aggregateType}/${letter.aggregateId}`,
  version: letter.version
})

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

/** What became of one dead letter of a redriven sequence. */
export type Outcome = RedriveOutcome

/**
 * What became of each dead letter of a sequence, from the sequence as it was marked and the dead
 * letters of its aggregate after the redrive: gone is delivered, more attempts is failed again,
 * the same is still parked.
 */
export const outcomes = (
  marked: ReadonlyArray<DeadLetters.DeadLetter>,
  after: ReadonlyArray<DeadLetters.DeadLetter>
): ReadonlyArray<Outcome> => {
  const left = new Map(after.map((l) => [l.id, l]))
  return [...marked].sort((a, b) => a.version - b.version).map((before): Outcome => {
    const what = { id: before.id, eventId: before.eventId, eventType: before.eventType, version: before.version }
    const now = left.get(before.id)
    if (now === undefined) return { ...what, outcome: "delivered" }
    return now.attempts > before.attempts || now.lastFailedAt > before.lastFailedAt
      ? { ...what, outcome: "failed", error: now.error, attempts: now.attempts }
      : { ...what, outcome: "parked" }
  })
}

export const make = (engine: Engine, partition: Partition) => {
  const { subscription } = partition

  /** One attempt, in a transaction of its own: deliver, remove the dead letter, save the checkpoint (fenced). */
  const attemptOnce = (
    dead: DeadLetters.DeadLetter,
    stored: DomainEvent.Stored | undefined,
    cursor: LogCursor,
    token: number
  ) => {
    const handle = Effect.suspend(() => {
      if (stored === undefined) return Effect.void
      const decoded = decode(subscription, stored)
      if (Either.isLeft(decoded)) return Effect.fail(new StillPoison(decoded.left))
      return deliver(engine, partition, decoded.right).pipe(
        Effect.catchAllCause((cause) =>
          Cause.isInterruptedOnly(cause) ? Effect.failCause(cause) : Effect.fail(new DeliveryFailed(0, cause))
        )
      )
    })
    const settle = Effect.zipRight(
      engine.deadLetters.remove([dead.id]),
      // fenced like a checkpoint: a process that lost the lease cannot redeliver
      engine.checkpoints.save(subscription.name, partition.index, cursor, token)
    )
    const inTransaction = <E>(effect: Effect.Effect<void, E>) =>
      CommitSignal.collecting(engine.signal, engine.store.withTransaction(effect))
    // a subscription that is not `inTransaction` handles the event before the transaction
    return subscription.inTransaction === false
      ? Effect.zipRight(handle, inTransaction(settle))
      : inTransaction(Effect.zipRight(handle, settle))
  }

  /** Redeliver one dead letter under the retry schedule; false when it failed again (and was recorded so). */
  const redeliver = Effect.fnUntraced(function*(dead: DeadLetters.DeadLetter, cursor: LogCursor, token: number) {
    const [found] = yield* engine.store.readStream(dead.aggregateType, dead.aggregateId, dead.version - 1)
    const stored = found !== undefined && found.version === dead.version ? { ...found } : undefined
    let attempts = 0
    const attempt = Effect.suspend(() =>
      attempts++ === 0
        ? attemptOnce(dead, stored, cursor, token)
        : Effect.zipRight(engine.telemetry.retry(subscription.name), attemptOnce(dead, stored, cursor, token))
    ).pipe(Effect.tapErrorCause((cause) =>
      Effect.logWarning(
        `${subscription.name}: redrive of ${describeLetter(dead)} failed (attempt ${attempts}): ${
          describeCause(unwrap(cause))
        }`
      ).pipe(Effect.annotateLogs({ ...annotations(dead), attempt: attempts, error: describeCause(unwrap(cause)) }))
    ))
    const delivered = yield* Effect.exit(Effect.retry(
      attempt,
      Schedule.whileInput(subscription.retry, (error: unknown) => error instanceof DeliveryFailed)
    ))
    if (Exit.isSuccess(delivered)) {
      yield* Effect.logInfo(
        `${subscription.name}: redrive delivered ${describeLetter(dead)} (attempt ${attempts})`
      ).pipe(Effect.annotateLogs({ ...annotations(dead), attempt: attempts }))
      return true
    }
    if (Option.exists(Cause.failureOption(delivered.cause), (e) => e instanceof Checkpoints.LeaseLost)) {
      return yield* Effect.failCause(delivered.cause)
    }
    const error = describeCause(unwrap(delivered.cause))
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
    ).pipe(Effect.annotateLogs({ ...annotations(dead), attempts: dead.attempts + attempts, error }))
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

/** A handler's failure as it was (not wrapped in the `DeliveryFailed` that marks it retryable). */
const unwrap = (cause: Cause.Cause<unknown>): Cause.Cause<unknown> =>
  Option.match(Cause.failureOption(cause), {
    onNone: () => cause,
    onSome: (error) => (error instanceof DeliveryFailed ? error.cause : cause)
  })
