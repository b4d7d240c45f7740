import { Layer } from "effect"
import { SqlEventStore } from "effect-ddd/sql"
import { suite } from "../contracts/FulfilmentContract.js"
import { pgClient } from "../support/pg.js"

suite("PostgreSQL", SqlEventStore.layer().pipe(Layer.provide(pgClient("fulfilment", { maxConnections: 20 }))))
