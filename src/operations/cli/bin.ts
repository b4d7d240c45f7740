#!/usr/bin/env node
/**
 * The `effect-ddd` executable. It loads the CLI, telling which package to install when one it needs
 * (`@effect/platform-node`) is missing from the application.
 */
import("./main.js").catch((error: unknown) => {
  const missing = /Cannot find (?:package|module) '([^']+)'/.exec(
    String((error as Error | undefined)?.message ?? error)
  )
  process.stderr.write(
    missing !== null
      ? `effect-ddd: the CLI needs ${missing[1]}: npm install ${missing[1]}\n`
      : `effect-ddd: cannot start: ${String((error as Error | undefined)?.message ?? error)}\n`
  )
  process.exitCode = 1
})
