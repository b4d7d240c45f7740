import { SqliteClient } from "@effect/sql-sqlite-node"
import { Layer } from "effect"
import { SqlEventStore } from "effect-ddd/sql"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { property } from "../contracts/FulfilmentProperty.js"

const file = join(mkdtempSync(join(tmpdir(), "effect-ddd-fulfilment-law-")), "law.db")

property("SQLite", SqlEventStore.layer().pipe(Layer.provide(SqliteClient.layer({ filename: file }))), 12)
