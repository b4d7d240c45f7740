/**
 * Runs the CLI on the process's arguments and exits with its code: 0 done, 1 failed (a one-line
 * message on stderr, no stack trace), 2 bad arguments, 130 interrupted.
 */
import { ValidationError } from "@effect/cli"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Cause, Console, Effect, Exit, Option } from "effect"
import { createRequire } from "node:module"
import * as Cli from "./Cli.js"
import { CliError, describe } from "./CliError.js"

const { version } = createRequire(import.meta.url)("../../../package.json") as { readonly version: string }

const report = (cause: Cause.Cause<unknown>): Effect.Effect<number> => {
  if (Cause.isInterruptedOnly(cause)) return Effect.succeed(130)
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure)) {
    const error = failure.value
    // @effect/cli has printed what was wrong with the arguments, with the usage
    if (ValidationError.isValidationError(error)) return Effect.succeed(2)
    return Effect.as(Console.error(`effect-ddd: ${describe(error)}`), error instanceof CliError ? error.exitCode : 1)
  }
  return Effect.as(Console.error(`effect-ddd: unexpected error: ${describe(Cause.squash(cause))}`), 1)
}

const program = Effect.suspend(() => Cli.run(version)(process.argv)).pipe(
  Effect.provide(NodeContext.layer),
  Effect.matchCauseEffect({ onFailure: report, onSuccess: () => Effect.succeed(0) })
)

NodeRuntime.runMain(program, {
  disableErrorReporting: true,
  teardown: (exit, onExit) => onExit(Exit.isSuccess(exit) ? (exit.value as number) : 130)
})
