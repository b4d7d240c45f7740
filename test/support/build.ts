/**
 * The package as built by `npm run build` (dist/), for the tests that run it as users do (the CLI,
 * the packed tarball). Built when missing or older than a source file; concurrent test files wait
 * for one build (a lock directory) instead of building together.
 */
import { execFile } from "node:child_process"
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"

export const root = fileURLToPath(new URL("../..", import.meta.url))
const marker = join(root, "dist", "operations", "cli", "bin.js")
const lock = join(root, ".build-lock")

const newest = (dir: string): number =>
  readdirSync(dir, { withFileTypes: true }).reduce((max, entry) => {
    const path = join(dir, entry.name)
    return Math.max(max, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs)
  }, 0)

const fresh = () =>
  existsSync(marker) &&
  statSync(marker).mtimeMs >= Math.max(newest(join(root, "src")), statSync(join(root, "tsconfig.build.json")).mtimeMs)

const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis))

/** Build dist/ unless it is up to date. */
export const ensureBuilt = async (): Promise<void> => {
  const deadline = Date.now() + 300_000
  while (!fresh()) {
    try {
      mkdirSync(lock)
    } catch {
      // another test file is building: wait for it (a lock older than 5 minutes is a dead build's)
      if (existsSync(lock) && Date.now() - statSync(lock).mtimeMs > 300_000) {
        rmSync(lock, { recursive: true, force: true })
      }
      if (Date.now() > deadline) throw new Error("timed out waiting for another build of dist/")
      await sleep(250)
      continue
    }
    try {
      if (!fresh()) {
        await promisify(execFile)(process.execPath, [
          join(root, "node_modules", "typescript", "bin", "tsc"),
          "-p",
          "tsconfig.build.json"
        ], {
          cwd: root,
          timeout: 300_000
        })
      }
    } finally {
      rmSync(lock, { recursive: true, force: true })
    }
  }
}
