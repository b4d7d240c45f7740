import { fileURLToPath } from "node:url"
import { defineConfig } from "vitest/config"

const src = (path: string) => fileURLToPath(new URL(`./src/${path}`, import.meta.url))

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
    include: ["test/**/*.test.ts", "examples/**/*.test.ts"],
    exclude: ["**/node_modules/**", "**/dist/**"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    globalSetup: ["test/support/postgres.ts"]
  }
})
