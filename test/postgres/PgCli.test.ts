import { suite } from "../contracts/CliContract.js"
import { suite as projectionsSuite } from "../contracts/ProjectionsCliContract.js"
import { suite as pruneSuite } from "../contracts/PruneCliContract.js"
import { freshDatabase } from "../support/database.js"

suite("PostgreSQL", async () => ({ dialect: "pg", target: await freshDatabase("cli") }))

pruneSuite("PostgreSQL", async () => ({ dialect: "pg", target: await freshDatabase("prune-cli") }))

projectionsSuite("PostgreSQL", async () => ({ dialect: "pg", target: await freshDatabase("projections-cli") }))
