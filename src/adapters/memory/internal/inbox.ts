/** The inbox over the in-memory database. */
import { Clock, Effect, HashMap } from "effect"
import type { Service } from "../../../ports/Inbox.js"
import { type Database, key, type Tables } from "./tables.js"

export const make = (db: Database): Service => ({
  markProcessed: (consumer, messageId) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      db.modify((tables): readonly [boolean, Tables] => {
        const k = key(consumer, messageId)
        return HashMap.has(tables.inbox, k)
          ? [false, tables]
          : [true, { ...tables, inbox: HashMap.set(tables.inbox, k, now) }]
      }))
})
