import { Layer } from "effect"
import { SqlEventStore } from "effect-ddd/sql"
import { suite } from "../contracts/PruningContract.js"
import { pgClient } from "../support/pg.js"

suite(
  "PostgreSQL",
  (retention) => SqlEventStore.layer({ retention }).pipe(Layer.provide(pgClient("pruning", { maxConnections: 4 })))
)
