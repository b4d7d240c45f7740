/**
 * The learning platform on SQLite (a file per service under DATA_DIR) with the NATS server the
 * platform's command starts itself (its store under DATA_DIR too): the contract of
 * test/contracts/LearningPlatformContract.ts. Without nats-server this fails, saying how to install it.
 */
import { spawnSync } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { learningPlatformContract } from "../contracts/LearningPlatformContract.js"
import { freePort } from "../support/freePort.js"
import { findNatsServer } from "../support/nats.js"

const dataDir = mkdtempSync(join(tmpdir(), "learning-platform-"))

learningPlatformContract("the learning platform on SQLite, with its own nats-server", {
  environment: async () => ({
    DATA_DIR: dataDir,
    NATS_SERVER_BIN: findNatsServer(),
    NATS_PORT: String(await freePort())
  }),
  dispose: async () => rmSync(dataDir, { recursive: true, force: true })
})

describe("the platform's command without nats-server", () => {
  it("fails with a message saying how to install it, or to set NATS_URL", () => {
    const dir = mkdtempSync(join(tmpdir(), "learning-platform-"))
    try {
      const run = spawnSync(process.execPath, ["--import", "tsx", "examples/learning-platform/main.ts"], {
        env: { ...process.env, NATS_URL: "", DATA_DIR: dir, NATS_SERVER_BIN: join(dir, "no-nats-server") },
        encoding: "utf8",
        timeout: 60_000
      })
      expect(run.status).toBe(1)
      expect(run.stderr).toContain("nats-server was not found")
      expect(run.stderr).toContain("apt-get install nats-server")
      expect(run.stderr).toContain("NATS_URL")
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
