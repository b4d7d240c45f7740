/**
 * A simulated process's view of the shared stores: once the process is killed, everything it
 * tries to read or write fails as if the database were unreachable, so a dead process can never
 * commit (a `kill -9` runs no finalizer that matters).
 */
import { Context, Effect } from "effect"
import { EventStoreError } from "../../../ports/EventStore.js"

const dead = new EventStoreError({ reason: "Unavailable", detail: "the simulated process was killed" })

const guarded = <S extends object>(service: S, isAlive: () => boolean): S => {
  const check = Effect.suspend(() => (isAlive() ? Effect.void : Effect.fail(dead)))
  return new Proxy(service, {
    get(target, key) {
      const value = Reflect.get(target, key)
      if (Effect.isEffect(value)) return Effect.zipRight(check, value)
      if (typeof value !== "function") return value
      return (...args: Array<unknown>) => {
        const result = value.apply(target, args)
        return Effect.isEffect(result) ? Effect.zipRight(check, result) : result
      }
    }
  })
}

/** The same services, each failing once `isAlive` says the process is dead. */
export const guard = <R>(context: Context.Context<R>, isAlive: () => boolean): Context.Context<R> => {
  let result = Context.empty() as Context.Context<R>
  for (const [key, service] of context.unsafeMap) {
    result = Context.add(
      result,
      Context.GenericTag<unknown, unknown>(key),
      guarded(service as object, isAlive)
    ) as Context.Context<R>
  }
  return result
}
