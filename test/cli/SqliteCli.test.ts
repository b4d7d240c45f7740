import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { suite } from "./CliContract.js"

suite("SQLite", async () => {
  const filename = join(mkdtempSync(join(tmpdir(), "effect-ddd-cli-")), "app.db")
  // an empty file is an empty SQLite database
  writeFileSync(filename, "")
  return { dialect: "sqlite", target: filename }
})
