/**
 * The test lanes (docs/test-suite.md). A test file lives in the folder of the lightest lane that
 * can run it:
 *
 * - `test/unit/` (and the tests of examples/): nothing but the code (pure functions, in-memory adapters, the seeded
 *   simulation, type tests): no database file, no server, no child process, no network.
 * - `test/integration/`: real components on this machine: SQLite files, child processes, HTTP
 *   servers, chromium, the built and packed package.
 * - `test/postgres/`: needs the PostgreSQL server, which only this lane and `chaos` start.
 * - `test/chaos/`: kill -9, database outage and HTTP fuzzing runs against the example server;
 *   small with fixed seeds in `npm test`, full size with new seeds in `npm run test:chaos`.
 *
 * Helpers are not tests: `test/contracts/` (suites every adapter runs), `test/support/`.
 * `vitest run` runs every lane, fastest first; `--project <lane>` runs one.
 */
import { fileURLToPath } from "node:url"
import { defineConfig } from "vitest/config"

const src = (path: string) => fileURLToPath(new URL(`./src/${path}`, import.meta.url))

/** A lane: its folder, and when it runs in a full run (lower first). */
const lane = (
  name: string,
  order: number,
  options: { readonly postgres?: boolean; readonly examples?: boolean } = {}
) => ({
  extends: true as const,
  test: {
    name,
    include: [`test/${name}/**/*.test.ts`, ...(options.examples === true ? ["examples/**/*.test.ts"] : [])],
    sequence: { groupOrder: order },
    ...(options.postgres === true ? { globalSetup: ["test/support/postgres.ts"] } : {})
  }
})

/**
 * Test files running at once. Two on the 2-core machine the suite is sized for: most of a file's
 * time is spent waiting on databases, child processes and fsync. Each runs with a PostgreSQL
 * cluster of its own (test/support/postgres.ts); one at a time when `DATABASE_URL` names a single
 * server for all. `TEST_WORKERS` overrides it.
 */
const workers = Number(process.env["TEST_WORKERS"] ?? (process.env["DATABASE_URL"] ? 1 : 2))

export default defineConfig({
  resolve: {
    alias: [
      { find: /^effect-ddd\/testing$/, replacement: src("testing/index.ts") },
      { find: /^effect-ddd\/sql$/, replacement: src("adapters/sql/index.ts") },
      { find: /^effect-ddd\/sql\/pg$/, replacement: src("adapters/sql/pg/index.ts") },
      { find: /^effect-ddd\/nats$/, replacement: src("adapters/nats/index.ts") },
      { find: /^effect-ddd\/opentelemetry$/, replacement: src("operations/opentelemetry/index.ts") },
      { find: /^effect-ddd\/testing\/http$/, replacement: src("testing/http/index.ts") },
      { find: /^effect-ddd$/, replacement: src("index.ts") }
    ]
  },
  test: {
    exclude: ["**/node_modules/**", "**/dist/**"],
    testTimeout: 120_000,
    maxWorkers: workers,
    minWorkers: 1,
    hookTimeout: 60_000,
    projects: [
      lane("unit", 0, { examples: true }),
      lane("integration", 1),
      lane("postgres", 1, { postgres: true }),
      lane("chaos", 2, { postgres: true })
    ]
  }
})
