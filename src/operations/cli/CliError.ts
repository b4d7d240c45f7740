/**
 * What the CLI reports to its user: a message for stderr and the exit code, never a stack trace.
 */
import { Effect, Schedule, Schema } from "effect"
import { EventStoreError } from "../../ports/EventStore.js"

/** A failure the user can act on: bad input, an unreachable or unmigrated database, a missing id. */
export class CliError extends Schema.TaggedError<CliError>()("CliError", {
  message: Schema.String,
  /** 1: the command failed; 2: bad arguments. */
  exitCode: Schema.optionalWith(Schema.Literal(1, 2), { default: () => 1 })
}) {}

const own = (error: unknown): string | undefined => {
  if (typeof error !== "object" || error === null) return error === undefined ? undefined : String(error)
  const { _tag, message, name } = error as {
    readonly _tag?: unknown
    readonly message?: unknown
    readonly name?: unknown
  }
  if (typeof message === "string" && message !== "") return message
  if (typeof _tag === "string") return _tag
  return typeof name === "string" ? name : undefined
}

/**
 * Retry a write while the database is busy (SQLite allows one writer at a time: the running
 * relay's transaction may hold it), for at most 10 seconds.
 */
export const whileBusy = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.retry(self, {
    while: (error) => error instanceof EventStoreError && error.reason === "Unavailable",
    schedule: Schedule.spaced("200 millis").pipe(Schedule.upTo("10 seconds"))
  })

/** The message of any failure and of what caused it, for one line on stderr. */
export const describe = (error: unknown): string => {
  const messages: Array<string> = []
  let current: unknown = error
  for (let depth = 0; depth < 4 && current !== undefined && current !== null; depth++) {
    const message = own(current)
    if (message !== undefined && !messages.some((m) => m.includes(message))) messages.push(message)
    current = typeof current === "object" ? (current as { readonly cause?: unknown }).cause : undefined
  }
  return messages.length === 0 ? String(error) : messages.join(": ")
}
