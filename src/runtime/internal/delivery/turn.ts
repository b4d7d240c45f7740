/**
 * One turn of a partition whose lease a worker holds: carry out requested redrives, or read the
 * next page after the worker's cursor and deliver it.
 */
import { Clock, Effect } from "effect"
import type * as DeadLetters from "../../../ports/DeadLetters.js"
import { isAfter, type LogCursor } from "../../../ports/EventStore.js"
import * as Batch from "./batch.js"
import type { Engine, Partition } from "./context.js"
import { aggregateKey, cursorAfter } from "./events.js"
import * as Redrive from "./redrive.js"

/** What a worker keeps while it holds a partition's lease. */
export interface Held {
  readonly token: number
  /** Where the next read starts. */
  cursor: LogCursor
  /** The aggregates with dead letters (their events are parked); undefined: read them again. */
  parked: Batch.Parked | undefined
  /** When the dead letters were read, and the local change count then. */
  readAt: number
  changed: number
  /**
   * The checkpoint as last saved. The cursor runs ahead of it over events the subscription does
   * not handle; an idle worker saves it now and then, so a restart does not read them again.
   */
  saved: LogCursor
  savedAt: number
}

/** What a turn did: delivered something (go on at once), found nothing, or found events not readable yet. */
export type Outcome = "delivered" | "idle" | "heldBack"

/** The state of a worker that just took a partition's lease. */
export const hold = (engine: Engine, partition: Partition, token: number) =>
  Effect.map(
    Effect.all([engine.checkpoints.get(partition.subscription.name, partition.index), Clock.currentTimeMillis]),
    ([cursor, now]): Held => ({
      token,
      cursor,
      parked: undefined,
      readAt: 0,
      changed: engine.deadLettersChanged.value,
      saved: cursor,
      savedAt: now
    })
  )

export const make = (engine: Engine, partition: Partition) => {
  const { subscription } = partition
  const batch = Batch.make(engine, partition)
  const redrive = Redrive.make(engine, partition)
  const pageSize = subscription.batchSize ?? engine.batchSize

  /** The dead letters again: a redrive to carry out, or the parked set. True when a redrive ran. */
  const readDeadLetters = Effect.fnUntraced(function*(held: Held, now: number) {
    held.changed = engine.deadLettersChanged.value
    held.readAt = now
    const letters: ReadonlyArray<DeadLetters.DeadLetter> = yield* engine.deadLetters.list({
      subscription: subscription.name,
      partition: partition.index
    })
    if (letters.some((l) => l.status === "redrive")) {
      held.parked = undefined
      yield* redrive(letters, held.cursor, held.token)
      return true
    }
    held.parked = new Set(letters.map((l) => aggregateKey(l.aggregateType, l.aggregateId)))
    return false
  })

  /** Save the cursor of an idle worker that ran ahead of its checkpoint, now and then. */
  const saveAhead = (held: Held, now: number) =>
    isAfter(held.cursor, held.saved) && now - held.savedAt >= engine.pollMillis
      ? Effect.zipRight(
        engine.store.withTransaction(
          engine.checkpoints.save(subscription.name, partition.index, held.cursor, held.token)
        ),
        Effect.sync(() => {
          held.saved = held.cursor
          held.savedAt = now
        })
      )
      : Effect.void

  return Effect.fnUntraced(function*(held: Held) {
    const now = yield* Clock.currentTimeMillis
    // the parked set is cached: read again after a local redrive or discard, and at least every
    // poll interval (a redrive or discard requested by another process)
    if (
      held.parked === undefined || held.changed !== engine.deadLettersChanged.value ||
      now - held.readAt >= engine.pollMillis
    ) {
      if (yield* readDeadLetters(held, now)) return "delivered" as Outcome
    }
    const page = yield* engine.store.readPage(held.cursor, pageSize, partition.filter)
    held.cursor = page.next
    if (page.events.length === 0) {
      yield* saveAhead(held, now)
      return (page.heldBack === true ? "heldBack" : "idle") as Outcome
    }
    held.parked = yield* batch.deliverAll(page.events, held.parked ?? new Set(), held.token)
    held.saved = cursorAfter(page.events)
    yield* Effect.logDebug(
      `${subscription.name}/${partition.index}: ${page.events.length} event(s) up to position ${held.saved.position} done`
    )
    return "delivered" as Outcome
  })
}
