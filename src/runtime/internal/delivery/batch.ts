/**
 * Delivering a batch of a partition's events in order, each batch in one transaction with the
 * checkpoint after its last event, so a handler's effects in the same database and the checkpoint
 * commit together (exactly once). Events of aggregates with a dead letter are parked behind it;
 * undecodable payloads are poison. A handler failure aborts the batch's transaction; the events
 * before it are delivered again on their own, and the failing one is retried under the
 * subscription's schedule, then dead-lettered.
 */
import { Cause, Clock, Effect, Either, Schedule } from "effect"
import type * as DomainEvent from "../../../core/DomainEvent.js"
import type { LoggedEvent } from "../../../ports/EventStore.js"
import * as CommitSignal from "../commitSignal.js"
import type { Engine, Partition } from "./context.js"
import * as DeadLetter from "./deadLetter.js"
import { aggregateKey, cursorAfter, decode, describeCause, describeEvent, eventAnnotations } from "./events.js"

/** A handler failed on the event at `index` of a batch. */
export class DeliveryFailed {
  readonly _tag = "DeliveryFailed"
  constructor(readonly index: number, readonly cause: Cause.Cause<unknown>) {}
}

/** The aggregates whose events wait behind a dead letter (keys of `aggregateKey`). */
export type Parked = ReadonlySet<string>

/**
 * What a pass over a batch does: `all` (inside the transaction: deliver, record dead letters, save
 * the checkpoint); for a subscription that is not `inTransaction`, `deliver` first (outside any
 * transaction: the handlers only), then `record` (inside: dead letters and the checkpoint).
 */
type Phase = "all" | "deliver" | "record"

/** Run the subscription's handler for one decoded event, with its span and metrics. */
export const deliver = (engine: Engine, partition: Partition, envelope: DomainEvent.Envelope<unknown>) =>
  // workers are forked from the relay's constructor: the handlers' requirements are in their context
  engine.telemetry.deliver(
    partition.subscription.name,
    partition.index,
    envelope,
    partition.subscription.handle(envelope.payload, envelope) as Effect.Effect<void, unknown>
  )

/**
 * The body of a batch's transaction: deliver in order, park and poison, save the checkpoint;
 * `progress` tells the caller where a handler failed. Made once per worker (`Effect.fnUntraced`),
 * never per call: a generator made from a fresh `function*` closure gets a hidden class of its
 * own, allocated in the old generation and keeping what the closure reaches (a batch) alive until
 * the next full collection.
 */
const deliverEvents = (engine: Engine, partition: Partition) =>
  Effect.fnUntraced(function*(
    events: ReadonlyArray<LoggedEvent>,
    parked: Parked,
    token: number,
    progress: { index: number; delivering: boolean },
    phase: Phase
  ) {
    let parkedNow = parked
    const now = yield* Clock.currentTimeMillis
    for (; progress.index < events.length; progress.index++) {
      const event = events[progress.index]!
      const key = aggregateKey(event.aggregateType, event.aggregateId)
      if (parkedNow.size > 0 && parkedNow.has(key)) {
        if (phase === "deliver") continue
        const error = "an earlier event of this aggregate is dead-lettered"
        yield* DeadLetter.record(engine, partition, event, "parked", { error, attempts: 0, firstFailedAt: now })
        yield* DeadLetter.logDeadLettered(partition, event, "parked", error, 0)
        continue
      }
      const decoded = decode(partition.subscription, event)
      if (Either.isLeft(decoded)) {
        parkedNow = new Set(parkedNow).add(key)
        if (phase === "deliver") continue
        yield* DeadLetter.record(engine, partition, event, "poison", {
          error: decoded.left,
          attempts: 1,
          firstFailedAt: now
        })
        yield* DeadLetter.logDeadLettered(partition, event, "poison", decoded.left, 1)
        continue
      }
      if (phase === "record") continue
      progress.delivering = true
      yield* deliver(engine, partition, decoded.right)
      progress.delivering = false
    }
    if (phase !== "deliver") {
      yield* engine.checkpoints.save(partition.subscription.name, partition.index, cursorAfter(events), token)
    }
    return parkedNow
  })

/** The batch and retry steps of one partition's worker. */
export const make = (engine: Engine, partition: Partition) => {
  const body = deliverEvents(engine, partition)
  const { subscription } = partition

  const pass = (events: ReadonlyArray<LoggedEvent>, parked: Parked, token: number, phase: Phase) =>
    Effect.suspend(() => {
      const progress = { index: 0, delivering: false }
      // a handler failure aborts the whole transaction with its index (caught once, not per event)
      return body(events, parked, token, progress, phase).pipe(
        Effect.catchAllCause((cause) =>
          progress.delivering ? Effect.fail(new DeliveryFailed(progress.index, cause)) : Effect.failCause(cause)
        )
      )
    })

  const transaction = (events: ReadonlyArray<LoggedEvent>, parked: Parked, token: number, phase: Phase) =>
    engine.telemetry.committed(CommitSignal.collecting(
      engine.signal,
      engine.store.withTransaction(pass(events, parked, token, phase))
    ))

  /**
   * Deliver events in one transaction with the checkpoint after the last one; for a subscription
   * that is not `inTransaction`, its handlers first, then the transaction.
   */
  const commit = subscription.inTransaction === false
    ? (events: ReadonlyArray<LoggedEvent>, parked: Parked, token: number) =>
      Effect.zipRight(pass(events, parked, token, "deliver"), transaction(events, parked, token, "record"))
    : (events: ReadonlyArray<LoggedEvent>, parked: Parked, token: number) => transaction(events, parked, token, "all")

  const logFailure = (event: LoggedEvent, attempt: number, cause: Cause.Cause<unknown>) => {
    const error = describeCause(cause)
    return Effect.logWarning(
      `${subscription.name}: delivery of ${describeEvent(event)} failed (attempt ${attempt}): ${error}`
    ).pipe(Effect.annotateLogs({ ...eventAnnotations(event), attempt, error }))
  }

  /** Retry one failing event alone under the subscription's schedule; dead-letter it when that gives up. */
  const retryOne = Effect.fnUntraced(function*(
    event: LoggedEvent,
    firstCause: Cause.Cause<unknown>,
    parked: Parked,
    token: number
  ) {
    const firstFailedAt = yield* Clock.currentTimeMillis
    let attempts = 0
    let lastCause = firstCause
    // the failure in the batch is the first attempt: replay it, so the schedule's first delay
    // comes before the second
    const attempt = Effect.suspend(() =>
      attempts++ === 0
        ? Effect.fail(new DeliveryFailed(0, firstCause))
        : Effect.zipRight(engine.telemetry.retry(subscription.name), commit([event], parked, token))
    ).pipe(Effect.tapError((error) => {
      if (!(error instanceof DeliveryFailed)) return Effect.void
      lastCause = error.cause
      return logFailure(event, attempts, error.cause)
    }))
    const retried = yield* Effect.either(Effect.retry(
      attempt,
      // the schedule sees the handler's error (`Schedule.whileInput` can tell failures apart)
      Schedule.whileInput(
        Schedule.mapInput(
          subscription.retry,
          (error: unknown) => error instanceof DeliveryFailed ? Cause.squash(error.cause) : error
        ),
        (error: unknown) => error instanceof DeliveryFailed
      )
    ))
    if (Either.isRight(retried)) return retried.right
    if (!(retried.left instanceof DeliveryFailed)) return yield* Effect.fail(retried.left)
    const error = describeCause(lastCause)
    yield* engine.telemetry.committed(engine.store.withTransaction(Effect.zipRight(
      DeadLetter.record(engine, partition, event, "failed", { error, attempts, firstFailedAt }),
      engine.checkpoints.save(subscription.name, partition.index, cursorAfter([event]), token)
    )))
    yield* DeadLetter.logDeadLettered(partition, event, "failed", error, attempts)
    return new Set(parked).add(aggregateKey(event.aggregateType, event.aggregateId)) as Parked
  })

  /** Deliver a page: in one transaction when every handler succeeds, else around the failing event. */
  const deliverAll: (
    events: ReadonlyArray<LoggedEvent>,
    parked: Parked,
    token: number
  ) => Effect.Effect<Parked, unknown> = Effect.fnUntraced(function*(events, parked, token) {
    if (events.length === 0) return parked
    const result = yield* Effect.either(commit(events, parked, token))
    if (Either.isRight(result)) return result.right
    const failure = result.left
    if (!(failure instanceof DeliveryFailed)) return yield* Effect.fail(failure)
    // the events before it again (a handler may fail differently on a second run)
    const before = failure.index > 0 ? yield* deliverAll(events.slice(0, failure.index), parked, token) : parked
    const after = yield* retryOne(events[failure.index]!, failure.cause, before, token)
    return yield* deliverAll(events.slice(failure.index + 1), after, token)
  })

  return { commit, deliverAll }
}
