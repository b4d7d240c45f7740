import { Layer } from "effect"
import { SqlEventStore } from "effect-ddd/sql"
import { suite } from "./contracts/RelayContract.js"
import { pgClient } from "./support/pg.js"

suite("PostgreSQL", SqlEventStore.layer().pipe(Layer.provide(pgClient("relay", { maxConnections: 20 }))))
