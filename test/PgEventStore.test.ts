import { Layer } from "effect"
import { SqlEventStore } from "effect-ddd/sql"
import { suite } from "./contracts/EventStoreContract.js"
import { pgClient } from "./support/pg.js"

suite("PostgreSQL", SqlEventStore.layer().pipe(Layer.provide(pgClient("contract", { maxConnections: 80 }))))
