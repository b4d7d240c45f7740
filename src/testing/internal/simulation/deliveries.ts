/**
 * What the simulation wraps around every subscription's handler (through the relay's driver):
 * the faults it injects into deliveries, and the record each committed delivery leaves in the
 * inbox of the process's database, from which order per aggregate, duplicates and completeness are
 * checked.
 */
import { Effect } from "effect"
import type * as DomainEvent from "../../../core/DomainEvent.js"
import * as Subscription from "../../../core/Subscription.js"
import { EventStore } from "../../../ports/EventStore.js"
import { Inbox } from "../../../ports/Inbox.js"
import { chance, type State } from "./state.js"

/** A fault injected into a handler. */
export class InjectedFault {
  readonly _tag = "InjectedFault"
  constructor(readonly kind: "failure" | "exhausted") {}
  get message() {
    return `injected ${this.kind}`
  }
}

/** The inbox consumer under which deliveries to a subscription are recorded. */
export const journalOf = (subscription: string) => `simulation:${subscription}`

/** The inbox consumer under which broken rules are marked, by their index in `State.suspected`. */
export const violationsJournal = "simulation:violations"

/** A broken rule seen in a delivery's transaction: it counts if that transaction commits. */
const suspect = (state: State, inbox: Inbox["Type"], violation: string) => {
  state.suspected.push(violation)
  return inbox.markProcessed(violationsJournal, String(state.suspected.length - 1))
}

const describe = (e: { readonly aggregateType: string; readonly aggregateId: string; readonly version: number }) =>
  `${e.aggregateType}/${e.aggregateId}@${e.version}`

/**
 * Record a delivery in its transaction: the previous event of the aggregate must be recorded
 * already, and the event itself must not be, unless a duplicate was injected over it.
 */
const record = (state: State, subscription: Subscription.Any, envelope: DomainEvent.Envelope<unknown>) =>
  Effect.gen(function*() {
    const inbox = yield* Inbox
    const store = yield* EventStore
    const journal = journalOf(subscription.name)
    const stream = yield* store.readStream(envelope.aggregateType, envelope.aggregateId, 0)
    const previous = stream.filter((e) =>
      e.version < envelope.version && Subscription.handles(subscription, e.aggregateType, e.eventType)
    ).at(-1)
    if (previous !== undefined && (yield* inbox.markProcessed(journal, previous.eventId))) {
      yield* suspect(
        state,
        inbox,
        `order: ${subscription.name} was delivered ${describe(envelope)} before ${describe(previous)}`
      )
    }
    if (yield* inbox.markProcessed(journal, envelope.eventId)) return
    // delivered before: only as often again as a `duplicate` fault moved its checkpoint back over it
    const allowed = state.redeliveries.get(`${subscription.name}:${envelope.eventId}`) ?? 0
    for (let again = 1; again <= allowed; again++) {
      if (yield* inbox.markProcessed(`${journal}#${again}`, envelope.eventId)) return
    }
    yield* suspect(state, inbox, `duplicate: ${subscription.name} was delivered ${describe(envelope)} again`)
  })

/**
 * A subscription with faults injected into its deliveries: transient failures (never more in a row
 * than the run allows), failures until redriven (`exhaust`), and crashes of the process inside the
 * handler (`crash` is called, and the handler waits to be interrupted with its process).
 */
export const instrument = (state: State, crash: Effect.Effect<void>) => (subscription: Subscription.Any) => ({
  ...subscription,
  handle: (event: unknown, envelope: DomainEvent.Envelope<unknown>) =>
    Effect.suspend(() => {
      const key = `${subscription.name}:${envelope.eventId}`
      if (state.cursed.has(key)) return Effect.fail(new InjectedFault("exhausted"))
      if (chance(state, state.faults.exhaust)) {
        state.counts.exhaust++
        state.cursed.add(key)
        return Effect.fail(new InjectedFault("exhausted"))
      }
      const failed = state.failures.get(key) ?? 0
      if (failed < state.maxAttempts - 1 && chance(state, state.faults.failure)) {
        state.counts.failure++
        state.failures.set(key, failed + 1)
        return Effect.fail(new InjectedFault("failure"))
      }
      if (chance(state, state.faults.handlerCrash)) {
        state.counts.handlerCrash++
        return Effect.zipRight(crash, Effect.never)
      }
      return Effect.zipRight(
        subscription.handle(event, envelope) as Effect.Effect<void, unknown>,
        record(state, subscription, envelope)
      )
    })
})
