/** Process managers' deadlines on SQL (table `effect_ddd_deadlines`). */
import { Effect, Option } from "effect"
import type { Service } from "../../../ports/Deadlines.js"
import type { DeliveryQuery } from "./deliveryQuery.js"
import * as Dialect from "./dialect.js"

type DeadlineRow = {
  readonly process_manager: string
  readonly instance_id: string
  readonly name: string
  readonly due_at: number | string
}

export const make = ({ atomically, p, query }: DeliveryQuery): Service => {
  const remove = `DELETE FROM effect_ddd_deadlines WHERE process_manager = ${p(1)} AND instance_id = ${p(2)}`
  const insert = `INSERT INTO effect_ddd_deadlines (process_manager, instance_id, name, due_at)
    VALUES (${p(1)}, ${p(2)}, ${p(3)}, ${p(4)})`
  const selectDue = `SELECT process_manager, instance_id, name, due_at FROM effect_ddd_deadlines
    WHERE process_manager = ${p(1)} AND due_at <= ${p(2)} ORDER BY due_at, instance_id, name LIMIT ${p(3)}`
  const selectNext = `SELECT min(due_at) AS due_at FROM effect_ddd_deadlines WHERE process_manager = ${p(1)}`
  const claim = `DELETE FROM effect_ddd_deadlines
    WHERE process_manager = ${p(1)} AND instance_id = ${p(2)} AND name = ${p(3)} AND due_at = ${p(4)} RETURNING name`
  return {
    set: (processManager, instanceId, deadlines) =>
      atomically(Effect.zipRight(
        query(remove, [processManager, instanceId], "cancel deadlines"),
        Effect.forEach(
          deadlines,
          (d) => query(insert, [processManager, instanceId, d.name, d.dueAt], "schedule deadline"),
          { discard: true }
        )
      )),
    due: (processManager, now, limit) =>
      Effect.map(
        query<DeadlineRow>(selectDue, [processManager, now, limit], "read due deadlines"),
        (rows) =>
          rows.map((row) => ({
            processManager: row.process_manager,
            instanceId: row.instance_id,
            name: row.name,
            dueAt: Dialect.readNumber(row.due_at)
          }))
      ),
    next: (processManager) =>
      Effect.map(
        query<{ due_at: number | string | null }>(selectNext, [processManager], "read next deadline"),
        (rows) => Option.map(Option.fromNullable(rows[0]?.due_at), Dialect.readNumber)
      ),
    claim: (d) =>
      Effect.map(
        query(claim, [d.processManager, d.instanceId, d.name, d.dueAt], "claim deadline"),
        (rows) => rows.length === 1
      )
  }
}
