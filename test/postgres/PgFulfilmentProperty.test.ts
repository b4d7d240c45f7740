import { Layer } from "effect"
import { SqlEventStore } from "effect-ddd/sql"
import { property } from "../contracts/FulfilmentProperty.js"
import { pgClient } from "../support/pg.js"

property("PostgreSQL", SqlEventStore.layer().pipe(Layer.provide(pgClient("fulfilment_law", { maxConnections: 20 }))), 8)
