import { SqliteClient } from "@effect/sql-sqlite-node"
import { Layer } from "effect"
import { SqlEventStore } from "effect-ddd/sql"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { suite } from "../contracts/ProjectionContract.js"
import { sqlReadModel } from "../support/sqlReadModel.js"

const tempFile = () => join(mkdtempSync(join(tmpdir(), "effect-ddd-")), "projections.db")

suite(
  "SQLite",
  (retention) =>
    SqlEventStore.layer({ retention }).pipe(Layer.provideMerge(SqliteClient.layer({ filename: tempFile() }))),
  sqlReadModel
)
