import { Layer } from "effect"
import { SqlEventStore } from "effect-ddd/sql"
import { suite } from "../contracts/HealthContract.js"
import { pgClient } from "../support/pg.js"

suite("PostgreSQL", SqlEventStore.layer().pipe(Layer.provide(pgClient("health"))))
