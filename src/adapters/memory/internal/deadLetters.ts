/** Dead letters over the in-memory database. */
import { Effect, HashMap, Option } from "effect"
import { type DeadLetter, DeadLetterNotFound, type Filter, type Service } from "../../../ports/DeadLetters.js"
import { type Database, update } from "./tables.js"

const selects = (filter: Filter) => (d: DeadLetter) =>
  (filter.subscription === undefined || d.subscription === filter.subscription) &&
  (filter.aggregateType === undefined || d.aggregateType === filter.aggregateType) &&
  (filter.aggregateId === undefined || d.aggregateId === filter.aggregateId) &&
  (filter.partition === undefined || d.partition === filter.partition)

export const make = (db: Database): Service => ({
  add: (deadLetter) =>
    update(db, (tables) => ({ ...tables, deadLetters: HashMap.set(tables.deadLetters, deadLetter.id, deadLetter) })),
  list: (filter) =>
    Effect.map(db.get, (tables) =>
      Array.from(HashMap.values(tables.deadLetters))
        .filter(selects(filter))
        .sort((a, b) => a.position - b.position || a.id.localeCompare(b.id))),
  get: (id) => Effect.map(db.get, (tables) => HashMap.get(tables.deadLetters, id)),
  setStatus: (id, status) =>
    db.transaction(Effect.flatMap(db.get, (tables) => {
      const current = HashMap.get(tables.deadLetters, id)
      return Option.isNone(current)
        ? Effect.fail(new DeadLetterNotFound({ id }))
        : update(db, (t) => ({ ...t, deadLetters: HashMap.set(t.deadLetters, id, { ...current.value, status }) }))
    })),
  remove: (ids) =>
    update(db, (tables) => ({
      ...tables,
      deadLetters: ids.reduce((letters, id) => HashMap.remove(letters, id), tables.deadLetters)
    }))
})
