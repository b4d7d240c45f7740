import { contractSuite } from "./contract.js"
import { startServer, tempDataDir } from "./server.js"

contractSuite("SQLite file", async () => [await startServer({ DATA_DIR: tempDataDir() })])
