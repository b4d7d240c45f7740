/** The inbox over the in-memory database. */
import { HashSet } from "effect"
import type { Service } from "../../../ports/Inbox.js"
import { type Database, key, type Tables } from "./tables.js"

export const make = (db: Database): Service => ({
  markProcessed: (consumer, messageId) =>
    db.modify((tables): readonly [boolean, Tables] => {
      const k = key(consumer, messageId)
      return HashSet.has(tables.inbox, k) ? [false, tables] : [true, { ...tables, inbox: HashSet.add(tables.inbox, k) }]
    })
})
