/**
 * Loading an aggregate: its state row (decoded with the aggregate's state schema), then, for an
 * event-sourced aggregate, the events after it folded in.
 */
import { Effect, Either, Option } from "effect"
import type * as Aggregate from "../../../core/Aggregate.js"
import * as DomainEvent from "../../../core/DomainEvent.js"
import type { EventStoreError, Service as Store } from "../../../ports/EventStore.js"

/** A stored state as the aggregate's state, or a decode error naming it. */
export const decodeState = (aggregate: Aggregate.Any, aggregateId: string, version: number, encoded: unknown) =>
  Either.match(DomainEvent.decodeValue(aggregate.state, encoded), {
    onLeft: (detail) =>
      Effect.fail(
        new DomainEvent.EventDecodeError({
          eventId: `${aggregate.name}/${aggregateId}@${version}`,
          aggregateType: aggregate.name,
          aggregateId,
          eventType: "(state)",
          schemaVersion: 0,
          detail
        })
      ),
    onRight: (state) => Effect.succeed(state)
  })

/** An aggregate's current state and version. */
export type Load = (
  aggregate: Aggregate.Any,
  id: string
) => Effect.Effect<Aggregate.Snapshot<string, unknown>, EventStoreError | DomainEvent.EventDecodeError>

/**
 * Load from `store`. The generator is made once (Effect.fnUntraced), not per command: a generator
 * made from a fresh `function*` closure gets a hidden class of its own, allocated in the old
 * generation.
 */
export const makeLoad = (store: Store): Load =>
  Effect.fnUntraced(function*(aggregate: Aggregate.Any, id: string) {
    const row = yield* store.readState(aggregate.name, id)
    let state = aggregate.initial(id)
    let version = 0
    if (Option.isSome(row)) {
      state = yield* decodeState(aggregate, id, row.value.version, row.value.state)
      version = row.value.version
    }
    if (aggregate.persistence._tag === "EventSourced") {
      const stored = yield* store.readStream(aggregate.name, id, version)
      for (const record of stored) {
        const event = yield* DomainEvent.decodeStored(aggregate, record)
        state = aggregate.evolve(state, event.payload)
        version = record.version
      }
    }
    return { id, state, version }
  })
