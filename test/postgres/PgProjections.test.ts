import { Layer } from "effect"
import { SqlEventStore } from "effect-ddd/sql"
import { suite } from "../contracts/ProjectionContract.js"
import { pgClient } from "../support/pg.js"
import { sqlReadModel } from "../support/sqlReadModel.js"

suite(
  "PostgreSQL",
  (retention) =>
    SqlEventStore.layer({ retention }).pipe(Layer.provideMerge(pgClient("projections", { maxConnections: 8 }))),
  sqlReadModel
)
