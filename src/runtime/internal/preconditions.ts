/**
 * Preconditions on other aggregates (`CommandHandler.withPrecondition`): checked on the other
 * aggregate's state read inside the command's transaction, and asserted again after the append,
 * in the same transaction: if the other aggregate's version moved in between, the command fails
 * with a `ConcurrencyConflict` naming that aggregate, which the command handler's retry re-runs
 * (reading it, checking and deciding again).
 */
import { Effect, Either, FiberRef, Option } from "effect"
import type * as Aggregate from "../../core/Aggregate.js"
import { ConcurrencyConflict, type EventStoreError, type Service as Store } from "../../ports/EventStore.js"

export interface Precondition {
  readonly aggregate: Aggregate.Any
  readonly id: string
  readonly check: (state: unknown) => Either.Either<unknown, unknown>
}

/** The version of another aggregate a command's decision relied on. */
export interface Checked {
  readonly aggregate: Aggregate.Any
  readonly id: string
  readonly version: number
}

/** The preconditions of the commands the current fiber executes. */
export const current: FiberRef.FiberRef<ReadonlyArray<Precondition>> = FiberRef.unsafeMake<
  ReadonlyArray<Precondition>
>([])

/** Add a precondition for the commands `self` executes. */
export const add = <A, E, R>(self: Effect.Effect<A, E, R>, precondition: Precondition): Effect.Effect<A, E, R> =>
  Effect.locallyWith(self, current, (preconditions) => [...preconditions, precondition])

/** Read each other aggregate and check it: the first refusal is the command's error. */
export const check = <E>(
  preconditions: ReadonlyArray<Precondition>,
  load: (aggregate: Aggregate.Any, id: string) => Effect.Effect<Aggregate.Snapshot<string, unknown>, E>
): Effect.Effect<ReadonlyArray<Checked>, unknown> =>
  Effect.forEach(
    preconditions,
    (precondition) =>
      Effect.flatMap(load(precondition.aggregate, precondition.id), (snapshot) =>
        Either.match(precondition.check(snapshot.state), {
          onLeft: (refused) =>
            Effect.fail(refused),
          onRight: () =>
            Effect.succeed<Checked>({
              aggregate: precondition.aggregate,
              id: precondition.id,
              version: snapshot.version
            })
        }))
  )

/** The current version of an aggregate, or whether it moved past `version` (event-sourced). */
const unchanged = (store: Store, checked: Checked): Effect.Effect<boolean, EventStoreError> =>
  checked.aggregate.persistence._tag === "StateStored"
    ? Effect.map(
      store.readState(checked.aggregate.name, checked.id),
      (row) => Option.match(row, { onNone: () => 0, onSome: (r) => r.version }) === checked.version
    )
    : Effect.map(store.readStream(checked.aggregate.name, checked.id, checked.version), (events) => events.length === 0)

/** In the command's transaction, after its writes: each other aggregate is still at the version checked. */
export const assertUnchanged = (
  store: Store,
  checked: ReadonlyArray<Checked>
): Effect.Effect<void, ConcurrencyConflict | EventStoreError> =>
  Effect.forEach(checked, (c) =>
    Effect.flatMap(unchanged(store, c), (same) =>
      same ? Effect.void : Effect.fail(
        new ConcurrencyConflict({ aggregateType: c.aggregate.name, aggregateId: c.id, expectedVersion: c.version })
      )), { discard: true })
