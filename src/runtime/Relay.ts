/**
 * The relay: a scoped background layer that delivers the event log to async subscriptions.
 *
 * Per subscription and partition (a hash of the aggregate id modulo the partition count) one
 * worker holds a lease, reads after its checkpoint in commit-safe order and delivers in order;
 * the handlers' database effects and the checkpoint commit in one transaction, so effects in the
 * same database happen exactly once. A failing delivery is retried under the subscription's
 * `Schedule`, then dead-lettered; later events of that aggregate are parked behind it (its order
 * holds) while other aggregates go on. An undecodable payload is poison: dead-lettered at once.
 * Redrive and discard act on dead letters; the partition's owner performs a redrive, in order.
 *
 * `examples/subscriptions.ts`, an order reserving stock and confirmed through two subscriptions:
 * {@includeCode ../../examples/subscriptions.ts}
 *
 * @since 0.1.0
 * @module
 */
import {
  Cause,
  Clock,
  Context,
  Duration,
  Effect,
  Either,
  Exit,
  Layer,
  Option,
  Schedule,
  Schema,
  type Scope
} from "effect"
import * as DomainEvent from "../core/DomainEvent.js"
import * as ProcessManager from "../core/ProcessManager.js"
import * as Subscription from "../core/Subscription.js"
import * as Instrumentation from "../operations/internal/instrumentation.js"
import * as Telemetry from "../operations/Telemetry.js"
import { EventStore, type EventStoreError, isAfter, type LogCursor, type LoggedEvent } from "../ports/EventStore.js"
import * as Outbox from "../ports/Outbox.js"
import type * as CommandHandler from "./CommandHandler.js"
import * as CommitSignal from "./CommitSignal.js"
import { heartbeat } from "./internal/leaseHeartbeat.js"

/**
 * A redrive did not finish in time (the partition's owner may be busy or gone).
 *
 * @since 0.1.0
 * @category errors
 */
export class RedriveTimeout extends Schema.TaggedError<RedriveTimeout>()("RedriveTimeout", { id: Schema.String }) {
  override get message() {
    return `redrive of dead letter ${this.id} did not finish in time`
  }
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options<S extends Subscription.Any, P extends ProcessManager.Any = never> {
  readonly subscriptions: ReadonlyArray<S>
  /** Process managers to run: their reactions, their commands and their deadlines. */
  readonly processManagers?: ReadonlyArray<P>
  /** Most events read and committed at once per partition (default 500). */
  readonly batchSize?: number
  /** Fallback polling when no wake-up arrives (default 1 second). */
  readonly pollInterval?: Duration.DurationInput
  /** How long a lease lasts without renewal (default 10 seconds); renewed every third of it. */
  readonly leaseTtl?: Duration.DurationInput
  /** This process's name in leases (default: a random id). */
  readonly owner?: string
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** The relay's owner name in leases. */
  readonly owner: string
  /**
   * Redeliver a dead letter's aggregate sequence (the failed event and those parked behind it),
   * in order; resolves with the dead letters still left for that aggregate (none on success).
   */
  readonly redrive: (
    id: string,
    options?: { readonly timeout?: Duration.DurationInput }
  ) => Effect.Effect<ReadonlyArray<Outbox.DeadLetter>, Outbox.DeadLetterNotFound | RedriveTimeout | EventStoreError>
  /** Drop a dead letter without delivering it. */
  readonly discard: (id: string) => Effect.Effect<void, Outbox.DeadLetterNotFound | EventStoreError>
  /** Dead letters matching a filter, by position. */
  readonly deadLetters: (
    filter?: Outbox.DeadLetterFilter
  ) => Effect.Effect<ReadonlyArray<Outbox.DeadLetter>, EventStoreError>
  /** Stop delivering (checkpoints stay where they are) until `resume`. */
  readonly pause: Effect.Effect<void>
  readonly resume: Effect.Effect<void>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class Relay extends Context.Tag("effect-ddd/Relay")<Relay, Service>() {}

/** A handler failed on the event at `index` of a batch. */
class DeliveryFailed {
  constructor(readonly index: number, readonly cause: Cause.Cause<unknown>) {}
}

const describeCause = (cause: Cause.Cause<unknown>): string => {
  const failure = Cause.squash(cause)
  if (failure instanceof Error) return `${failure.name}: ${failure.message}`
  if (typeof failure === "object" && failure !== null && "_tag" in failure) {
    const message = (failure as { message?: unknown }).message
    return `${String((failure as { _tag: unknown })._tag)}${
      typeof message === "string" && message !== "" ? `: ${message}` : ""
    }`
  }
  return String(failure)
}

/** The event loop's next turn, after the I/O callbacks already due (no 1 ms timer clamp). */
const nextTurn = Effect.async<void>((resume) => {
  const handle = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(handle))
})

const aggregateKey = (aggregateType: string, aggregateId: string) => `${aggregateType}\u0000${aggregateId}`

/** What a worker keeps while it holds a partition's lease. */
interface Held {
  readonly token: number
  cursor: LogCursor
  /** The aggregates with dead letters (their events are parked); undefined: read them again. */
  parked: ReadonlySet<string> | undefined
  /** When the dead letters were read, and the local change count then. */
  readAt: number
  changed: number
  /**
   * The checkpoint as last saved. The cursor runs ahead of it over events the subscription does
   * not handle; an idle worker saves it now and then, so a restart does not read them again.
   */
  saved: LogCursor
  savedAt: number
  /**
   * How long to wait before reading again while events wait above the safe horizon (PostgreSQL):
   * they become readable when older transactions end, which may signal nothing.
   */
  heldBackWait: number
}

/** The first and the longest wait before reading again while the log is held back. */
const HELD_BACK_FIRST_WAIT = 2
const HELD_BACK_LONGEST_WAIT = 100

/**
 * Run the relay for some subscriptions while the layer's scope is open.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <S extends Subscription.Any, P extends ProcessManager.Any = never>(
  options: Options<S, P>
): Layer.Layer<
  Relay,
  never,
  EventStore | Outbox.Outbox | Subscription.Requirements<S> | ProcessManagerRequirements<P>
> => Layer.scoped(Relay, make(options))

/**
 * What running process managers needs beside the stores: the command handler, when there are any.
 *
 * @since 0.1.0
 * @category models
 */
export type ProcessManagerRequirements<P> = [P] extends [never] ? never : CommandHandler.CommandHandler

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = <S extends Subscription.Any, P extends ProcessManager.Any = never>(
  options: Options<S, P>
): Effect.Effect<
  Service,
  never,
  EventStore | Outbox.Outbox | Subscription.Requirements<S> | ProcessManagerRequirements<P> | Scope.Scope
> =>
  Effect.gen(function*() {
    const store = yield* EventStore
    const outbox = yield* Outbox.Outbox
    const signal = yield* CommitSignal.CommitSignal
    const telemetry = Instrumentation.relayHooks(yield* Telemetry.Enabled)
    const owner = options.owner ?? `relay-${Math.random().toString(36).slice(2, 10)}`
    const batchSize = options.batchSize ?? 500
    const pollInterval = options.pollInterval ?? "1 second"
    const pollMillis = Duration.toMillis(pollInterval)
    const leaseTtl = Duration.toMillis(options.leaseTtl ?? "10 seconds")
    let paused = false
    const processManagers = options.processManagers ?? []
    const asyncSubscriptions = [
      ...options.subscriptions,
      ...processManagers.flatMap(ProcessManager.subscriptions)
    ].filter((s) => s.mode === "async")

    /** Decode a stored event for a subscription: the payload and its envelope, or why not. */
    const decode = (subscription: Subscription.Any, event: LoggedEvent) => {
      const aggregate = Subscription.aggregateOf(subscription, event.aggregateType)
      if (aggregate === undefined) return Effect.fail(`no source for aggregate type ${event.aggregateType}`)
      return Effect.mapError(DomainEvent.decodeStored(aggregate, event), (error) => error.message)
    }

    /** The same without an effect, for the per-event loop. */
    const decodeEither = (
      subscription: Subscription.Any,
      event: LoggedEvent
    ): Either.Either<DomainEvent.Envelope<unknown>, string> => {
      const aggregate = Subscription.aggregateOf(subscription, event.aggregateType)
      if (aggregate === undefined) return Either.left(`no source for aggregate type ${event.aggregateType}`)
      return Either.mapLeft(DomainEvent.decodeStoredEither(aggregate, event), (error) => error.message)
    }

    // workers are forked from the layer's constructor, so the handlers' requirements are in their context
    const deliver = (subscription: Subscription.Any, envelope: DomainEvent.Envelope<unknown>) =>
      telemetry.deliver(
        subscription.name,
        Subscription.partitionOf(envelope.aggregateId, subscription.partitions),
        envelope,
        subscription.handle(envelope.payload, envelope) as Effect.Effect<void, unknown>
      )

    const deadLetter = (
      subscription: Subscription.Any,
      partition: number,
      event: DomainEvent.Stored,
      kind: Outbox.DeadLetter["kind"],
      error: string,
      attempts: number,
      firstFailedAt: number
    ) =>
      Effect.zipRight(
        telemetry.deadLettered(subscription.name, kind),
        Effect.flatMap(Clock.currentTimeMillis, (now) =>
          outbox.addDeadLetter({
            id: `${subscription.name}:${event.eventId}`,
            subscription: subscription.name,
            partition,
            kind,
            eventId: event.eventId,
            position: event.position,
            aggregateType: event.aggregateType,
            aggregateId: event.aggregateId,
            version: event.version,
            eventType: event.eventType,
            error,
            attempts,
            firstFailedAt,
            lastFailedAt: now,
            status: "open"
          }))
      )

    /** Bumped by a local redrive or discard, so workers read their dead letters again at once. */
    let deadLettersChanged = 0

    const worker = (subscription: Subscription.Any, partition: number) => {
      const filter = Subscription.logFilter(subscription, partition)

      // The hot path's generators are made once per worker (Effect.fnUntraced), never per call: a
      // generator object made from a fresh `function*` closure gets a hidden class of its own, allocated
      // in the old generation and pointing back to the closure, so whatever the closure reaches (a
      // batch) outlived young-generation collections until the next full one.

      /** Deliver a batch; `progress` tells the caller where a handler failed. */
      const deliverEvents = Effect.fnUntraced(function*(
        events: ReadonlyArray<LoggedEvent>,
        parked: ReadonlySet<string>,
        token: number,
        progress: { index: number; delivering: boolean }
      ) {
        let parkedNow = parked
        const now = yield* Clock.currentTimeMillis
        for (; progress.index < events.length; progress.index++) {
          const event = events[progress.index]!
          if (parkedNow.size > 0 && parkedNow.has(aggregateKey(event.aggregateType, event.aggregateId))) {
            yield* deadLetter(
              subscription,
              partition,
              event,
              "parked",
              "an earlier event of this aggregate is dead-lettered",
              0,
              now
            )
            continue
          }
          const decoded = decodeEither(subscription, event)
          if (Either.isLeft(decoded)) {
            yield* deadLetter(subscription, partition, event, "poison", decoded.left, 1, now)
            parkedNow = new Set(parkedNow).add(aggregateKey(event.aggregateType, event.aggregateId))
            continue
          }
          progress.delivering = true
          yield* deliver(subscription, decoded.right)
          progress.delivering = false
        }
        yield* outbox.saveCheckpoint(subscription.name, partition, cursorAfter(events), token)
        return parkedNow
      })

      /**
       * Deliver events in one transaction with the checkpoint after the last one. Parked
       * aggregates and poison payloads become dead letters; a handler failure aborts the whole
       * transaction with the failing index (caught once around the loop, not per event).
       */
      const commitBatch = (events: ReadonlyArray<LoggedEvent>, parked: ReadonlySet<string>, token: number) =>
        telemetry.committed(CommitSignal.collecting(
          signal,
          store.withTransaction(Effect.suspend(() => {
            const progress = { index: 0, delivering: false }
            return deliverEvents(events, parked, token, progress).pipe(
              Effect.catchAllCause((cause) =>
                progress.delivering ? Effect.fail(new DeliveryFailed(progress.index, cause)) : Effect.failCause(cause)
              )
            )
          }))
        ))

      /** Retry one failing event alone; dead-letter it when the schedule gives up. */
      const retryOne = Effect.fnUntraced(function*(
        event: LoggedEvent,
        firstCause: Cause.Cause<unknown>,
        parked: ReadonlySet<string>,
        token: number
      ) {
        const firstFailedAt = yield* Clock.currentTimeMillis
        let attempts = 0
        let lastCause = firstCause
        // the failure in the batch is the first attempt: replay it, so the schedule's first
        // delay comes before the second
        const attempt = Effect.suspend(() =>
          attempts++ === 0
            ? Effect.fail(new DeliveryFailed(0, firstCause))
            : Effect.zipRight(telemetry.retry(subscription.name), commitBatch([event], parked, token))
        ).pipe(Effect.tapError((error) =>
          Effect.sync(() => {
            if (error instanceof DeliveryFailed) lastCause = error.cause
          })
        ))
        const retried = yield* Effect.either(Effect.retry(
          attempt,
          Schedule.whileInput(subscription.retry, (error: unknown) => error instanceof DeliveryFailed)
        ))
        if (Either.isRight(retried)) return retried.right
        if (!(retried.left instanceof DeliveryFailed)) return yield* Effect.fail(retried.left)
        yield* telemetry.committed(store.withTransaction(Effect.zipRight(
          deadLetter(subscription, partition, event, "failed", describeCause(lastCause), attempts, firstFailedAt),
          outbox.saveCheckpoint(subscription.name, partition, cursorAfter([event]), token)
        )))
        return new Set(parked).add(aggregateKey(event.aggregateType, event.aggregateId)) as ReadonlySet<string>
      })

      const deliverAll: (
        events: ReadonlyArray<LoggedEvent>,
        parked: ReadonlySet<string>,
        token: number
      ) => Effect.Effect<ReadonlySet<string>, unknown> = Effect.fnUntraced(function*(events, parked, token) {
        if (events.length === 0) return parked
        const result = yield* Effect.either(commitBatch(events, parked, token))
        if (Either.isRight(result)) return result.right
        const failure = result.left
        if (!(failure instanceof DeliveryFailed)) return yield* Effect.fail(failure)
        // the events before it again (a handler may fail differently on a second run)
        const before = failure.index > 0 ? yield* deliverAll(events.slice(0, failure.index), parked, token) : parked
        const after = yield* retryOne(events[failure.index]!, failure.cause, before, token)
        return yield* deliverAll(events.slice(failure.index + 1), after, token)
      })

      /** Redeliver the dead-lettered sequences whose redrive was requested, in order. */
      const redrive = Effect.fnUntraced(function*(letters: ReadonlyArray<Outbox.DeadLetter>) {
        const requested = letters.filter((l) => l.status === "redrive")
        const aggregates = new Map<string, Outbox.DeadLetter>()
        for (const letter of requested) aggregates.set(aggregateKey(letter.aggregateType, letter.aggregateId), letter)
        for (const letter of aggregates.values()) {
          const sequence = letters
            .filter((l) => l.aggregateType === letter.aggregateType && l.aggregateId === letter.aggregateId)
            .sort((a, b) => a.version - b.version)
          for (const dead of sequence) {
            const [stored] = yield* store.readStream(dead.aggregateType, dead.aggregateId, dead.version - 1)
            const delivered = yield* Effect.exit(
              CommitSignal.collecting(
                signal,
                store.withTransaction(Effect.gen(function*() {
                  if (stored !== undefined && stored.version === dead.version) {
                    const decoded = yield* Effect.mapError(
                      decode(subscription, { ...stored, commitOrder: 0 }),
                      (e) => new Error(e)
                    )
                    yield* deliver(subscription, decoded)
                  }
                  yield* outbox.deleteDeadLetters([dead.id])
                }))
              )
            )
            if (Exit.isFailure(delivered)) {
              const now = yield* Clock.currentTimeMillis
              yield* outbox.addDeadLetter({
                ...dead,
                kind: dead.kind === "parked" ? "failed" : dead.kind,
                error: describeCause(delivered.cause),
                attempts: dead.attempts + 1,
                lastFailedAt: now,
                status: "open"
              })
              // the rest stays parked behind it; a requested redrive of them is withdrawn
              for (const rest of sequence.filter((l) => l.version > dead.version && l.status === "redrive")) {
                yield* outbox.setDeadLetterStatus(rest.id, "open")
              }
              break
            }
          }
        }
      })

      /**
       * One turn of a held partition: carry out requested redrives, or deliver the next batch.
       * False when there was nothing to do.
       */
      const turn = Effect.fnUntraced(function*(state: Held) {
        const now = yield* Clock.currentTimeMillis
        // the parked set is cached: read again after a local redrive or discard, and at least
        // every poll interval (a redrive or discard requested by another process)
        if (state.parked === undefined || state.changed !== deadLettersChanged || now - state.readAt >= pollMillis) {
          state.changed = deadLettersChanged
          state.readAt = now
          const letters = yield* outbox.deadLetters({ subscription: subscription.name, partition })
          if (letters.some((l) => l.status === "redrive")) {
            state.parked = undefined
            yield* redrive(letters)
            return "delivered"
          }
          state.parked = new Set(letters.map((l) => aggregateKey(l.aggregateType, l.aggregateId)))
        }
        const page = yield* store.readPage(state.cursor, subscription.batchSize ?? batchSize, filter)
        state.cursor = page.next
        if (page.events.length === 0) {
          if (isAfter(state.cursor, state.saved) && now - state.savedAt >= pollMillis) {
            yield* store.withTransaction(outbox.saveCheckpoint(subscription.name, partition, state.cursor, state.token))
            state.saved = state.cursor
            state.savedAt = now
          }
          return page.heldBack === true ? "heldBack" : "idle"
        }
        state.parked = yield* deliverAll(page.events, state.parked, state.token)
        state.saved = cursorAfter(page.events)
        return "delivered"
      })

      /** Deliver while the lease is held (this fiber is interrupted when it is lost) or until paused. */
      const deliverWhileHeld = Effect.fnUntraced(function*(token: number) {
        const cursor = yield* outbox.checkpoint(subscription.name, partition)
        const state: Held = {
          token,
          cursor,
          parked: undefined,
          readAt: 0,
          changed: deadLettersChanged,
          saved: cursor,
          savedAt: yield* Clock.currentTimeMillis,
          heldBackWait: HELD_BACK_FIRST_WAIT
        }
        while (!paused) {
          // woken by commits of this partition's events only (commands inside a delivery signal
          // theirs after its commit: see `commitBatch`)
          const wait = yield* signal.nextOf(filter)
          const outcome = yield* turn(state)
          if (outcome === "delivered") {
            state.heldBackWait = HELD_BACK_FIRST_WAIT
            // let timers and I/O run between batches (a synchronous driver never yields on its
            // own); setImmediate, not a zero sleep: Node runs a 0 ms timer after 1 ms at the earliest
            yield* nextTurn
          } else if (outcome === "heldBack") {
            yield* CommitSignal.awaitOrTimeout(wait, Duration.millis(Math.min(state.heldBackWait, pollMillis)))
            state.heldBackWait = Math.min(state.heldBackWait * 2, HELD_BACK_LONGEST_WAIT)
          } else {
            state.heldBackWait = HELD_BACK_FIRST_WAIT
            yield* CommitSignal.awaitOrTimeout(wait, pollInterval)
          }
        }
      })

      return Effect.gen(function*() {
        while (true) {
          if (paused) {
            yield* Effect.sleep("50 millis")
            continue
          }
          const now = yield* Clock.currentTimeMillis
          const lease = yield* outbox.acquireLease(subscription.name, partition, owner, now, leaseTtl)
          if (Option.isNone(lease)) {
            yield* Effect.sleep(Duration.millis(leaseTtl / 3))
            continue
          }
          // the heartbeat ends when the lease is lost, and the delivery with it (rolled back); a
          // checkpoint write fenced off (taken over, or the checkpoint reset) ends the delivery too.
          // Either way: take the lease again, and read the checkpoint again with the new token
          yield* Effect.raceFirst(
            deliverWhileHeld(lease.value.token).pipe(Effect.catchIf(
              (error) => error instanceof Outbox.LeaseLost,
              () => Effect.logDebug(`relay ${subscription.name}/${partition} lost its lease`)
            )),
            heartbeat(lease.value, leaseTtl, (at) =>
              outbox.acquireLease(subscription.name, partition, owner, at, leaseTtl))
          )
        }
      }).pipe(
        Effect.catchAllCause((cause) =>
          Cause.isInterruptedOnly(cause)
            ? Effect.failCause(cause)
            : Effect.logWarning(`relay ${subscription.name}/${partition} restarts after an error`, cause).pipe(
              Effect.zipRight(Effect.sleep("200 millis"))
            )
        ),
        Effect.forever,
        Effect.ensuring(Effect.ignore(outbox.releaseLease(subscription.name, partition, owner))),
        Effect.annotateLogs({ subscription: subscription.name, partition })
      )
    }

    // recorded for the tools that measure and replay subscriptions from outside (the CLI)
    yield* Effect.forEach(asyncSubscriptions, (subscription) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        outbox.registerSubscription({
          name: subscription.name,
          kind: subscription.kind,
          partitions: subscription.partitions,
          sources: Subscription.logFilter(subscription).sources ?? [],
          registeredAt: now
        })), { discard: true }).pipe(
        Effect.tapError((error) =>
          Effect.logWarning("relay could not register its subscriptions, retrying", error)
        ),
        Effect.retry(Schedule.spaced("1 second")),
        Effect.forkScoped
      )

    for (const subscription of asyncSubscriptions) {
      for (let partition = 0; partition < subscription.partitions; partition++) {
        yield* Effect.forkScoped(worker(subscription, partition))
      }
    }

    for (const pm of processManagers) {
      // only forked when there are process managers, which then require the command handler
      yield* Effect.forkScoped(
        ProcessManager.runDeadlines(pm, { pollInterval }) as Effect.Effect<never, never, ProcessManagerRequirements<P>>
      )
    }

    const service: Service = {
      owner,
      redrive: (id, redriveOptions) =>
        Effect.gen(function*() {
          const letter = yield* outbox.deadLetter(id)
          if (Option.isNone(letter)) {
            return yield* new Outbox.DeadLetterNotFound({ id })
          }
          const { aggregateId, aggregateType, subscription } = letter.value
          // the whole sequence of the aggregate is redelivered: mark it all, so the wait below ends
          // only when every one of them is delivered or back to open
          const sequence = yield* outbox.deadLetters({ subscription, aggregateType, aggregateId })
          yield* store.withTransaction(
            Effect.forEach(sequence, (l) =>
              outbox.setDeadLetterStatus(l.id, "redrive"), { discard: true })
          )
          deadLettersChanged++
          yield* signal.notify
          const settled = Effect.gen(function*() {
            while (true) {
              const letters = yield* outbox.deadLetters({ subscription, aggregateType, aggregateId })
              if (
                letters.every((l) =>
                  l.status === "open"
                )
              ) {
                return letters
              }
              yield* Effect.sleep("20 millis")
            }
          })
          return yield* settled.pipe(
            Effect.timeoutFail({
              duration: redriveOptions?.timeout ?? "30 seconds",
              onTimeout: () =>
                new RedriveTimeout({ id })
            })
          )
        }),
      discard: (id) =>
        Effect.flatMap(
          outbox.deadLetter(id),
          (letter): Effect.Effect<void, Outbox.DeadLetterNotFound | EventStoreError> =>
            Option.isNone(letter)
              ? Effect.fail(new Outbox.DeadLetterNotFound({ id }))
              : Effect.zipRight(outbox.deleteDeadLetters([id]), Effect.sync(() => deadLettersChanged++))
        ),
      deadLetters: (filter = {}) => outbox.deadLetters(filter),
      pause: Effect.sync(() => {
        paused = true
      }),
      resume: Effect.zipRight(
        Effect.sync(() => {
          paused = false
        }),
        signal.notify
      )
    }
    return service
  })

const cursorAfter = (events: ReadonlyArray<LoggedEvent>): LogCursor => {
  const last = events[events.length - 1]!
  return { commitOrder: last.commitOrder, position: last.position }
}
