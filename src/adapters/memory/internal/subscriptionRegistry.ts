/** The registry of relays' subscriptions over the in-memory database. */
import { Effect, HashMap } from "effect"
import type { Service } from "../../../ports/SubscriptionRegistry.js"
import { type Database, update } from "./tables.js"

export const make = (db: Database): Service => ({
  register: (info) =>
    update(db, (tables) => ({ ...tables, subscriptions: HashMap.set(tables.subscriptions, info.name, info) })),
  unregister: (name) =>
    update(db, (tables) => ({ ...tables, subscriptions: HashMap.remove(tables.subscriptions, name) })),
  list: Effect.map(
    db.get,
    (tables) =>
      Array.from(HashMap.values(tables.subscriptions)).sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
  )
})
