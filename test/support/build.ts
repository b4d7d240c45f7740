/**
 * The package as built by `npm run build` (dist/), for the tests that run it as users do (the CLI,
 * the packed tarball). Built when missing or older than a source file; concurrent test files wait
 * for one build (a lock directory naming the building process) instead of building together, and
 * use dist/ only once that build has finished.
 */
import { execFile } from "node:child_process"
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
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

/** Whether the lock is left over by a build that is gone (its process no longer runs, or 5 minutes old). */
const abandoned = (): boolean => {
  try {
    if (Date.now() - statSync(lock).mtimeMs > 300_000) return true
    const pid = Number(readFileSync(join(lock, "pid"), "utf8"))
    process.kill(pid, 0)
    return false
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ESRCH"
  }
}

/** Build dist/ unless it is up to date. */
export const ensureBuilt = async (): Promise<void> => {
  const deadline = Date.now() + 300_000
  // a build under way may have written the marker before the rest of dist/: wait for its lock too
  while (!fresh() || existsSync(lock)) {
    try {
      mkdirSync(lock)
    } catch {
      // another test file is building: wait for it, unless its build is gone
      if (abandoned()) rmSync(lock, { recursive: true, force: true })
      if (Date.now() > deadline) throw new Error("timed out waiting for another build of dist/")
      await sleep(250)
      continue
    }
    try {
      writeFileSync(join(lock, "pid"), String(process.pid))
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
