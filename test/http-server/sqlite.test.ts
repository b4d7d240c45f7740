import { contractSuite } from "./contract/index.js"
import { startServer, tempDataDir } from "./server.js"

contractSuite("SQLite file", async (env) => [await startServer({ ...env, DATA_DIR: tempDataDir() })])
