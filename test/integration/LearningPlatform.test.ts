/**
 * The learning platform on SQLite (a file per service under DATA_DIR) with the NATS server the
 * platform's command starts itself (its store under DATA_DIR too): the contract of
 * test/contracts/LearningPlatformContract.ts. Without nats-server this fails, saying how to install it.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { learningPlatformContract } from "../contracts/LearningPlatformContract.js"
import { findNatsServer } from "../support/nats.js"
import { freePort } from "../support/platform.js"

const dataDir = mkdtempSync(join(tmpdir(), "learning-platform-"))

learningPlatformContract("the learning platform on SQLite, with its own nats-server", {
  environment: async () => ({
    DATA_DIR: dataDir,
    NATS_SERVER_BIN: findNatsServer(),
    NATS_PORT: String(await freePort())
  }),
  dispose: async () => rmSync(dataDir, { recursive: true, force: true })
})
