import { SqliteClient } from "@effect/sql-sqlite-node"
import { describe, expect, it } from "@effect/vitest"
import Database from "better-sqlite3"
import { Effect, Layer, Option } from "effect"
import { SqlEventStore } from "effect-ddd/sql"
import { mkdtempSync, readdirSync, readlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { suite } from "../../contracts/CliContract.js"
import { suite as projectionsSuite } from "../../contracts/ProjectionsCliContract.js"
import { suite as pruneSuite } from "../../contracts/PruneCliContract.js"
import { cli, startCli } from "../../support/cli.js"
import { delivery } from "../../support/stores.js"

const tempFile = () => join(mkdtempSync(join(tmpdir(), "effect-ddd-cli-")), "app.db")

const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis))

/** Whether process `pid` has `file` open (Linux: its descriptors in /proc). */
const hasOpen = (pid: number, file: string) => {
  try {
    return readdirSync(`/proc/${pid}/fd`).some((fd) => {
      try {
        return readlinkSync(`/proc/${pid}/fd/${fd}`) === file
      } catch {
        return false
      }
    })
  } catch {
    return false
  }
}

suite("SQLite", async () => {
  const filename = tempFile()
  // an empty file is an empty SQLite database
  writeFileSync(filename, "")
  return { dialect: "sqlite", target: filename }
})

projectionsSuite("SQLite", async () => {
  const filename = tempFile()
  writeFileSync(filename, "")
  return { dialect: "sqlite", target: filename }
})

describe("CLI on SQLite, one writer at a time", { timeout: 120_000 }, () => {
  it("a write waits while another process holds the database (beyond SQLite's 5 s busy timeout)", async () => {
    const filename = tempFile()
    expect((await cli(["migrate", "-d", filename])).code).toBe(0)
    // a subscription a relay ran up to position 5
    await Effect.runPromise(
      Effect.gen(function*() {
        const { checkpoints, registry } = yield* delivery
        yield* registry.register({
          name: "levels",
          kind: "projection",
          partitions: 1,
          sources: [{ aggregateType: "Inventory", eventTypes: [] }],
          registeredAt: 0
        })
        const lease = yield* checkpoints.acquireLease("levels", 0, "relay", 0, 1)
        yield* checkpoints.save("levels", 0, { commitOrder: 0, position: 5 }, Option.getOrThrow(lease).token)
      }).pipe(
        Effect.provide(SqlEventStore.layerWithoutMigrations().pipe(Layer.provide(SqliteClient.layer({ filename }))))
      )
    )
    const other = new Database(filename)
    other.exec("BEGIN IMMEDIATE")
    const started = await startCli(["replay", "levels", "--detach", "-d", filename])
    // once the CLI has the database open (it reads, then writes), the lock is held 7 s longer, past
    // SQLite's 5 s busy timeout: however slow the machine, its write comes while the lock is held
    let exited = false
    void started.ran.then(() => (exited = true))
    while (!exited && !hasOpen(started.pid!, filename)) await sleep(20)
    await sleep(7_000)
    other.exec("COMMIT")
    other.close()
    const replay = await started.ran
    expect(replay.code, replay.stderr).toBe(0)
    expect(replay.stdout).toContain("replay of levels from the start of the log: 1 of 1 checkpoint(s) moved back")
  })
})

pruneSuite("SQLite", () => Promise.resolve({ dialect: "sqlite", target: tempFile() }))
