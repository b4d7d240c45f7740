/**
 * Runs the CLI on the process's arguments and exits with its code: 0 done, 1 failed (a one-line
 * message on stderr, no stack trace), 2 bad arguments, 130 interrupted.
 */
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Effect, Exit } from "effect"
import { createRequire } from "node:module"
import * as Cli from "./Cli.js"

const { version } = createRequire(import.meta.url)("../../../package.json") as { readonly version: string }

const program = Cli.exitCode(version)(process.argv).pipe(Effect.provide(NodeContext.layer))

NodeRuntime.runMain(program, {
  disableErrorReporting: true,
  teardown: (exit, onExit) => onExit(Exit.isSuccess(exit) ? (exit.value as number) : 130)
})
