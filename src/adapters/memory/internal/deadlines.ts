/** Process managers' deadlines over the in-memory database. */
import { Effect, HashMap, Option } from "effect"
import type { Deadline, Service } from "../../../ports/Deadlines.js"
import { type Database, key, type Tables, update } from "./tables.js"

const deadlinesOf = (tables: Tables, processManager: string): Array<Deadline> =>
  Option.match(HashMap.get(tables.deadlines, processManager), {
    onNone: () => [],
    onSome: (mine) =>
      Array.from(HashMap.values(mine)).sort((a, b) =>
        a.dueAt - b.dueAt || a.instanceId.localeCompare(b.instanceId) || a.name.localeCompare(b.name)
      )
  })

export const make = (db: Database): Service => ({
  set: (processManager, instanceId, deadlines) =>
    update(db, (tables) => {
      let mine = Option.getOrElse(
        HashMap.get(tables.deadlines, processManager),
        () => HashMap.empty<string, Deadline>()
      )
      mine = HashMap.filter(mine, (d) => d.instanceId !== instanceId)
      for (const d of deadlines) mine = HashMap.set(mine, key(instanceId, d.name), { processManager, instanceId, ...d })
      return { ...tables, deadlines: HashMap.set(tables.deadlines, processManager, mine) }
    }),
  due: (processManager, now, limit) =>
    Effect.map(db.get, (tables) => deadlinesOf(tables, processManager).filter((d) => d.dueAt <= now).slice(0, limit)),
  next: (processManager) =>
    Effect.map(
      db.get,
      (tables) => Option.map(Option.fromNullable(deadlinesOf(tables, processManager)[0]), (d) => d.dueAt)
    ),
  claim: (deadline) =>
    db.modify((tables): readonly [boolean, Tables] => {
      const mine = HashMap.get(tables.deadlines, deadline.processManager)
      const k = key(deadline.instanceId, deadline.name)
      const current = Option.flatMap(mine, HashMap.get(k))
      if (Option.isNone(mine) || Option.isNone(current) || current.value.dueAt !== deadline.dueAt) {
        return [false, tables]
      }
      return [true, {
        ...tables,
        deadlines: HashMap.set(tables.deadlines, deadline.processManager, HashMap.remove(mine.value, k))
      }]
    })
})
