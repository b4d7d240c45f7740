/** The inbox on SQL (table `effect_ddd_inbox`). */
import { Effect } from "effect"
import type { Service } from "../../../ports/Inbox.js"
import type { DeliveryQuery } from "./deliveryQuery.js"

export const make = ({ p, query }: DeliveryQuery): Service => {
  const insert = `INSERT INTO effect_ddd_inbox (consumer, event_id, processed_at)
    VALUES (${p(1)}, ${p(2)}, ${p(3)})
    ON CONFLICT (consumer, event_id) DO NOTHING RETURNING event_id`
  return {
    markProcessed: (consumer, messageId) =>
      Effect.clockWith((clock) =>
        Effect.map(
          query(insert, [consumer, messageId, clock.unsafeCurrentTimeMillis()], "mark processed"),
          (rows) => rows.length === 1
        )
      )
  }
}
