/** Checkpoints and leases over the in-memory database. */
import { Effect, HashMap, Option } from "effect"
import { type Lease, LeaseLost, type Service } from "../../../ports/Checkpoints.js"
import { logStart } from "../../../ports/EventStore.js"
import { type Database, key, type Tables, update } from "./tables.js"

export const make = (db: Database): Service => ({
  get: (subscription, partition) =>
    Effect.map(
      db.get,
      (tables) => Option.getOrElse(HashMap.get(tables.checkpoints, key(subscription, partition)), () => logStart)
    ),
  save: (subscription, partition, cursor, token) =>
    db.transaction(Effect.flatMap(db.get, (tables) => {
      const k = key(subscription, partition)
      const lease = HashMap.get(tables.leases, k)
      if (Option.isNone(lease) || lease.value.token !== token) {
        return Effect.fail(new LeaseLost({ subscription, partition, token }))
      }
      return update(db, (t) => ({ ...t, checkpoints: HashMap.set(t.checkpoints, k, cursor) }))
    })),
  reset: (subscription, partition, cursor) =>
    update(db, (tables) => {
      const k = key(subscription, partition)
      const lease = HashMap.get(tables.leases, k)
      return {
        ...tables,
        leases: Option.isNone(lease)
          ? tables.leases
          : HashMap.set(tables.leases, k, { ...lease.value, token: lease.value.token + 1, expiresAt: 0 }),
        checkpoints: HashMap.set(tables.checkpoints, k, cursor)
      }
    }),
  acquireLease: (subscription, partition, owner, now, ttlMillis) =>
    db.modify((tables): readonly [Option.Option<Lease>, Tables] => {
      const k = key(subscription, partition)
      const current = HashMap.get(tables.leases, k)
      let lease: Lease
      if (Option.isNone(current)) {
        lease = { subscription, partition, owner, token: 1, expiresAt: now + ttlMillis }
      } else if (current.value.owner === owner) {
        lease = { ...current.value, expiresAt: now + ttlMillis }
      } else if (current.value.expiresAt <= now) {
        lease = { subscription, partition, owner, token: current.value.token + 1, expiresAt: now + ttlMillis }
      } else {
        return [Option.none(), tables]
      }
      return [Option.some(lease), { ...tables, leases: HashMap.set(tables.leases, k, lease) }]
    }),
  releaseLease: (subscription, partition, owner) =>
    update(db, (tables) => {
      const k = key(subscription, partition)
      const current = HashMap.get(tables.leases, k)
      return Option.isSome(current) && current.value.owner === owner
        ? { ...tables, leases: HashMap.set(tables.leases, k, { ...current.value, expiresAt: 0 }) }
        : tables
    }),
  leases: (subscription) =>
    Effect.map(db.get, (tables) =>
      Array.from(HashMap.values(tables.leases))
        .filter((lease) => subscription === undefined || lease.subscription === subscription)
        .sort((a, b) => a.subscription.localeCompare(b.subscription) || a.partition - b.partition))
})
