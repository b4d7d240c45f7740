import { suite } from "../contracts/CliContract.js"
import { freshDatabase } from "../support/database.js"

suite("PostgreSQL", async () => ({ dialect: "pg", target: await freshDatabase("cli") }))
