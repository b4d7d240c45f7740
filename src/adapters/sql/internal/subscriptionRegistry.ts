/** The registry of relays' subscriptions on SQL (table `effect_ddd_subscriptions`). */
import { Effect } from "effect"
import type { Service, SubscriptionInfo } from "../../../ports/SubscriptionRegistry.js"
import type { DeliveryQuery } from "./deliveryQuery.js"
import * as Dialect from "./dialect.js"

type SubscriptionRow = {
  readonly name: string
  readonly kind: SubscriptionInfo["kind"]
  readonly partitions: number | string
  readonly sources: unknown
  readonly registered_at: number | string
}

export const make = ({ dialect, p, query }: DeliveryQuery): Service => {
  const upsert = `INSERT INTO effect_ddd_subscriptions (name, kind, partitions, sources, registered_at)
    VALUES (${p(1)}, ${p(2)}, ${p(3)}, ${Dialect.jsonParam(dialect, 4)}, ${p(5)})
    ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, partitions = excluded.partitions,
      sources = excluded.sources, registered_at = excluded.registered_at`
  const remove = `DELETE FROM effect_ddd_subscriptions WHERE name = ${p(1)}`
  const all = `SELECT name, kind, partitions, sources, registered_at FROM effect_ddd_subscriptions ORDER BY name`
  return {
    register: (info) =>
      Effect.asVoid(query(
        upsert,
        [info.name, info.kind, info.partitions, JSON.stringify(info.sources), info.registeredAt],
        "register subscription"
      )),
    unregister: (name) => Effect.asVoid(query(remove, [name], "unregister subscription")),
    list: Effect.map(
      query<SubscriptionRow>(all, [], "read subscriptions"),
      (rows) =>
        rows.map((row) => ({
          name: row.name,
          kind: row.kind,
          partitions: Dialect.readNumber(row.partitions),
          sources: Dialect.readJson(row.sources) as SubscriptionInfo["sources"],
          registeredAt: Dialect.readNumber(row.registered_at)
        }))
    )
  }
}
