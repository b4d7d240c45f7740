import { SqliteClient } from "@effect/sql-sqlite-node"
import { Layer } from "effect"
import { SqlEventStore } from "effect-ddd/sql"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { suite } from "../contracts/FulfilmentContract.js"

const file = join(mkdtempSync(join(tmpdir(), "effect-ddd-fulfilment-")), "fulfilment.db")

suite("SQLite", SqlEventStore.layer().pipe(Layer.provide(SqliteClient.layer({ filename: file }))))
