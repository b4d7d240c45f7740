/**
 * What a run checks at quiescence beside the user's invariants — every event each subscription
 * handles was delivered, in order per aggregate, never twice unless a duplicate was injected — and
 * how it describes failures and keeps its trace.
 */
import { Cause, Effect, HashMap, Logger, Option } from "effect"
import * as Subscription from "../../../core/Subscription.js"
import { EventStore, logStart } from "../../../ports/EventStore.js"
import { Inbox } from "../../../ports/Inbox.js"
import { journalOf, violationsJournal } from "./deliveries.js"
import type { State } from "./state.js"

/** An error as the trace names it. */
export const describe = (error: unknown): string =>
  error instanceof Error
    ? error.message
    : typeof error === "object" && error !== null && "_tag" in error
    ? String((error as { _tag: unknown })._tag)
    : String(error)

/** A failure as the trace names it. */
export const describeCause = (cause: Cause.Cause<unknown>) => describe(Cause.squash(cause))

/**
 * The broken delivery rules: those seen by deliveries that committed, and the events never
 * delivered.
 */
export const deliveryRules = (state: State, subscriptions: ReadonlyArray<Subscription.Any>) =>
  Effect.gen(function*() {
    const store = yield* EventStore
    const inbox = yield* Inbox
    const log = yield* store.readAll(logStart, Number.MAX_SAFE_INTEGER)
    const missing: Array<string> = []
    const violations: Array<string> = []
    // looked up in a transaction rolled back at the end: a lookup marks what it finds missing
    yield* store.withTransaction(Effect.gen(function*() {
      for (const [index, violation] of state.suspected.entries()) {
        // marked already: the delivery that saw it committed
        if (!(yield* inbox.markProcessed(violationsJournal, String(index)))) violations.push(violation)
      }
      for (const subscription of subscriptions) {
        for (const event of log) {
          if (!Subscription.handles(subscription, event.aggregateType, event.eventType)) continue
          if (yield* inbox.markProcessed(journalOf(subscription.name), event.eventId)) {
            missing.push(
              `${subscription.name} never delivered ${event.aggregateType}/${event.aggregateId}@${event.version} ${event.eventType}`
            )
          }
        }
      }
      return yield* Effect.fail("rolled back")
    })).pipe(Effect.ignore)
    return [...violations, ...missing.slice(0, 10)]
  })

/** A logger writing to the run's trace, with the simulated time. */
export const traceLogger = (state: State) =>
  Logger.make(({ annotations, cause, date, logLevel, message }) => {
    const relay = HashMap.get(annotations, "relay")
    const by = Option.isSome(relay) ? ` [${String(relay.value)}]` : ""
    const text = (Array.isArray(message) ? message.map(String).join(" ") : String(message)) + by
    const why = Cause.isEmpty(cause) ? "" : `: ${describeCause(cause)}`
    state.trace.push(`#${state.step} t=${date.getTime()} ${logLevel.label} ${text}${why}`)
  })
