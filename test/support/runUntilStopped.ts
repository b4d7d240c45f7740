/**
 * The main of a test's child process: build a layer, print `started <owner>`, and run until
 * SIGTERM or SIGINT, which close the layer (a relay releases its leases) and exit 0. A failure
 * is printed and exits 1.
 */
import { Cause, Effect, Fiber, Layer } from "effect"

export const runUntilStopped = <A, E>(name: string, owner: string, layer: Layer.Layer<A, E>): void => {
  const main = Effect.runFork(Effect.scoped(Effect.gen(function*() {
    yield* Layer.build(layer)
    process.stdout.write(`started ${owner}\n`)
    return yield* Effect.never
  })))
  const stop = () => {
    Effect.runFork(Fiber.interrupt(main)).addObserver(() => process.exit(0))
  }
  process.on("SIGTERM", stop)
  process.on("SIGINT", stop)
  main.addObserver((exit) => {
    if (exit._tag === "Failure" && !Cause.isInterruptedOnly(exit.cause)) {
      process.stderr.write(`${name} ${owner}: ${Cause.pretty(exit.cause)}\n`)
      process.exit(1)
    }
  })
}
