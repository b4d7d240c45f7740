import { freshDatabase } from "../support/database.js"
import { suite } from "./CliContract.js"

suite("PostgreSQL", async () => ({ dialect: "pg", target: await freshDatabase("cli") }))
