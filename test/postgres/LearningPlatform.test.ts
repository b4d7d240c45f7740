/**
 * The learning platform on PostgreSQL (a database per service, `<SERVICE>_DATABASE_URL`) with a
 * throwaway nats-server at NATS_URL: the contract of test/contracts/LearningPlatformContract.ts.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { learningPlatformContract } from "../contracts/LearningPlatformContract.js"
import { freshDatabase } from "../support/database.js"
import { type NatsServer, startNatsServer } from "../support/nats.js"

const dataDir = mkdtempSync(join(tmpdir(), "learning-platform-"))
let nats: NatsServer | undefined

learningPlatformContract("the learning platform on PostgreSQL, with a NATS server at NATS_URL", {
  environment: async () => {
    nats = await startNatsServer()
    return {
      DATA_DIR: dataDir,
      NATS_URL: nats.url,
      CATALOG_DATABASE_URL: await freshDatabase("platform_catalog"),
      ACCOUNTS_DATABASE_URL: await freshDatabase("platform_accounts"),
      NOTIFICATIONS_DATABASE_URL: await freshDatabase("platform_notifications"),
      DISCOVERY_DATABASE_URL: await freshDatabase("platform_discovery")
    }
  },
  dispose: async () => {
    await nats?.dispose()
    rmSync(dataDir, { recursive: true, force: true })
  }
})
