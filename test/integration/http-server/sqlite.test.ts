import { contractSuite } from "../../contracts/http/index.js"
import { startServer, tempDataDir } from "../../support/server.js"

contractSuite("SQLite file", async (env) => [await startServer({ ...env, DATA_DIR: tempDataDir() })])
