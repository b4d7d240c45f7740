/**
 * SQLite has one connection, which a transaction reserves from the client (its semaphore) so that
 * no other fiber's statement lands inside it. Reserving it (a scope, the semaphore, a finalizer)
 * costs half the operations of an empty transaction, so the store keeps it reserved across its
 * back-to-back transactions and statements, one at a time, and releases it once the event loop
 * turns with none of them in progress: other users of the client wait at most until then.
 */
import type { SqlClient } from "@effect/sql"
import type { Connection } from "@effect/sql/SqlConnection"
import type { SqlError } from "@effect/sql/SqlError"
import { Deferred, Effect, Exit, FiberId } from "effect"
import * as Connections from "./connections.js"
import type * as Dialect from "./dialect.js"
import * as EffectSql from "./effectSql.js"

const pins = new WeakMap<SqlClient.SqlClient, Connections.OnConnection>()

/**
 * How the store and the outbox get a connection of `sql`: on SQLite its pinned connection (one per
 * client, shared by the store and the outbox), otherwise one reserved from the pool each time.
 */
export const onConnection = (sql: SqlClient.SqlClient, dialect: Dialect.Name): Connections.OnConnection => {
  if (dialect !== "sqlite") return Connections.reserved(sql)
  let pinned = pins.get(sql)
  if (pinned === undefined) {
    pinned = make(sql)
    pins.set(sql, pinned)
  }
  return pinned
}

/** Run `use` with the connection to itself, after the one in progress, if any. */
const make = (sql: SqlClient.SqlClient): Connections.OnConnection => {
  /** The reservation, while held: the connection and the scope that releases it. */
  let held: EffectSql.Held | undefined
  let busy = false
  let releaseScheduled = false
  const waiters: Array<Deferred.Deferred<void>> = []

  const releaseWhenIdle = () => {
    if (releaseScheduled) return
    releaseScheduled = true
    setImmediate(() => {
      releaseScheduled = false
      if (busy || held === undefined) return
      const release = held.release
      held = undefined
      Effect.runFork(release)
    })
  }

  /** Give the turn to the next waiter, or free it. */
  const leave = () => {
    const next = waiters.shift()
    if (next !== undefined) Deferred.unsafeDone(next, Exit.void)
    else {
      busy = false
      releaseWhenIdle()
    }
  }

  const enter = (restore: Connections.Restore): Effect.Effect<void> =>
    Effect.suspend(() => {
      if (!busy) {
        busy = true
        return Effect.void
      }
      const turn = Deferred.unsafeMake<void>(FiberId.none)
      waiters.push(turn)
      return Effect.onInterrupt(restore(Deferred.await(turn)), () =>
        Effect.sync(() => {
          const index = waiters.indexOf(turn)
          // still waiting: just leave the queue; already given the turn: pass it on
          if (index >= 0) waiters.splice(index, 1)
          else leave()
        }))
    })

  /** The connection, reserved on first use after a release (in the slot taken by `enter`). */
  const connection: Effect.Effect<Connection, SqlError> = Effect.suspend(() =>
    held !== undefined ? Effect.succeed(held.connection) : Effect.map(EffectSql.hold(sql), (reservation) => {
      held = reservation
      return reservation.connection
    })
  )

  /** `use` on the connection, then the turn passed on, whatever the outcome (uninterruptibly). */
  const useThenLeave = <A, E, R>(
    use: (connection: Connection, restore: Connections.Restore) => Effect.Effect<A, E, R>,
    restore: Connections.Restore
  ): Effect.Effect<A, E | SqlError, R> =>
    Effect.matchCauseEffect(
      // the connection is usually held already: no step to get it
      held !== undefined ? use(held.connection, restore) : Effect.flatMap(connection, (conn) => use(conn, restore)),
      {
        onFailure: (cause) => {
          leave()
          return Effect.failCause(cause)
        },
        onSuccess: (value) => {
          leave()
          return Effect.succeed(value)
        }
      }
    )

  return (use) =>
    Effect.uninterruptibleMask((restore) =>
      Effect.suspend(() => {
        if (!busy) {
          busy = true
          return useThenLeave(use, restore)
        }
        return Effect.zipRight(enter(restore), Effect.suspend(() => useThenLeave(use, restore)))
      })
    )
}
