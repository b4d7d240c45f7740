/**
 * An in-memory value with real transactions: one writer at a time, a private working copy while a
 * transaction runs, published only on success; nested transactions are savepoints.
 */
import { Effect, Exit, FiberRef, Option, Ref } from "effect"

export interface TransactionalRef<S> {
  /** The value as the current fiber sees it (its transaction's working copy, if any). */
  readonly get: Effect.Effect<S>
  /** Change the value; outside a transaction the change commits on its own. */
  readonly modify: <A>(f: (s: S) => readonly [A, S]) => Effect.Effect<A>
  readonly transaction: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
}

export const make = <S>(initial: S): Effect.Effect<TransactionalRef<S>> =>
  Effect.gen(function*() {
    const committed = yield* Ref.make(initial)
    const semaphore = yield* Effect.makeSemaphore(1)
    const current = FiberRef.unsafeMake<Option.Option<Ref.Ref<S>>>(Option.none())

    const transaction = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
      Effect.flatMap(FiberRef.get(current), (tx) => {
        if (Option.isSome(tx)) {
          const working = tx.value
          return Effect.flatMap(Ref.get(working), (savepoint) =>
            Effect.onExit(self, (exit) => (Exit.isSuccess(exit) ? Effect.void : Ref.set(working, savepoint))))
        }
        return semaphore.withPermits(1)(
          Effect.uninterruptibleMask((restore) =>
            Effect.gen(function*() {
              const working = yield* Ref.make(yield* Ref.get(committed))
              const exit = yield* Effect.exit(restore(Effect.locally(self, current, Option.some(working))))
              if (Exit.isSuccess(exit)) {
                yield* Ref.set(committed, yield* Ref.get(working))
              }
              return yield* exit
            })
          )
        )
      })

    const get = Effect.flatMap(FiberRef.get(current), (tx) =>
      Ref.get(Option.getOrElse(tx, () =>
        committed)))

    const modify = <A>(f: (s: S) => readonly [A, S]): Effect.Effect<A> =>
      Effect.flatMap(FiberRef.get(current), (tx) =>
        Option.isSome(tx) ? Ref.modify(tx.value, f) : transaction(Effect.suspend(() =>
          modify(f)
        )))

    return { get, modify, transaction }
  })
