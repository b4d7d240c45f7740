/**
 * `effect-ddd dead-letters`: list, show, redrive and discard the events a subscription could not
 * deliver.
 *
 * A redrive is carried out by the relay that holds the partition (it redelivers the aggregate's
 * dead-lettered sequence in order, in its own transactions): the CLI marks the sequence `redrive`,
 * wakes the relays, and waits a bounded time to report what happened.
 */
import { SqlClient } from "@effect/sql"
import { Clock, Duration, Effect, Option } from "effect"
import { defaultChannel } from "../../adapters/sql/PgWakeup.js"
import type { Stored } from "../../core/DomainEvent.js"
import { Checkpoints } from "../../ports/Checkpoints.js"
import { type DeadLetter, DeadLetters, type Filter as DeadLetterFilter } from "../../ports/DeadLetters.js"
import { EventStore, type EventStoreError } from "../../ports/EventStore.js"
import * as Redrive from "../../runtime/internal/delivery/redrive.js"
import { CliError, whileBusy } from "./CliError.js"
import * as Output from "./Output.js"

const find = (id: string): Effect.Effect<DeadLetter, CliError | EventStoreError, DeadLetters> =>
  Effect.flatMap(DeadLetters, (deadLetters) =>
    Effect.flatMap(deadLetters.get(id), (letter) =>
      Option.match(letter, {
        onNone: () =>
          Effect.fail(new CliError({ message: `no dead letter ${id} (effect-ddd dead-letters list shows them)` })),
        onSome: Effect.succeed
      })))

/** Wake the relays of other processes (PostgreSQL with `PgWakeup`); elsewhere they poll. */
export const wakeRelays: Effect.Effect<void, never, SqlClient.SqlClient> = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) =>
    sql.onDialectOrElse({
      pg: () => Effect.ignore(sql`SELECT pg_notify(${defaultChannel}, ${"effect-ddd cli"})`),
      orElse: () => Effect.void
    })
)

/** Dead letters matching a filter, by position. */
export const list = (filter: DeadLetterFilter) => Effect.flatMap(DeadLetters, (deadLetters) => deadLetters.list(filter))

/** The dead letters as a table. */
export const renderList = (letters: ReadonlyArray<DeadLetter>, now: number): string =>
  letters.length === 0 ? "no dead letters" : Output.table(
    [
      { header: "ID" },
      { header: "KIND" },
      { header: "STATUS" },
      { header: "POSITION", numeric: true },
      { header: "AGGREGATE" },
      { header: "VERSION", numeric: true },
      { header: "EVENT" },
      { header: "ATTEMPTS", numeric: true },
      { header: "LAST FAILED", numeric: true },
      { header: "ERROR" }
    ],
    letters.map((l) => [
      l.id,
      l.kind,
      l.status,
      String(l.position),
      `${l.aggregateType}/${l.aggregateId}`,
      String(l.version),
      l.eventType,
      String(l.attempts),
      `${Output.duration(now - l.lastFailedAt)} ago`,
      Output.truncate(l.error, 60)
    ])
  )

/** A dead letter and the event it holds (none if the event is gone from the store). */
export const show = (id: string) =>
  Effect.gen(function*() {
    const letter = yield* find(id)
    const store = yield* EventStore
    const stream = yield* store.readStream(letter.aggregateType, letter.aggregateId, letter.version - 1)
    const event = stream.find((e) => e.version === letter.version)
    return { deadLetter: letter, event: event ?? null }
  })

/** A dead letter with its event, as `key: value` lines and the event's JSON. */
export const renderShow = (
  { deadLetter: l, event }: { readonly deadLetter: DeadLetter; readonly event: Stored | null }
): string =>
  [
    Output.fields([
      ["id", l.id],
      ["subscription", `${l.subscription} (partition ${l.partition})`],
      ["kind", l.kind],
      ["status", l.status],
      ["event", `${l.eventType} ${l.eventId} at position ${l.position}`],
      ["aggregate", `${l.aggregateType}/${l.aggregateId} version ${l.version}`],
      ["attempts", String(l.attempts)],
      ["first failed", Output.time(l.firstFailedAt)],
      ["last failed", Output.time(l.lastFailedAt)]
    ]),
    "",
    "error:",
    l.error,
    "",
    event === null
      ? "the event is no longer in the store"
      : `payload:\n${JSON.stringify(event.payload, null, 2)}\n\nmetadata:\n${JSON.stringify(event.metadata, null, 2)}`
  ].join("\n")

/** What became of a redrive. */
export interface RedriveResult {
  readonly id: string
  readonly subscription: string
  readonly aggregate: string
  /**
   * `delivered`: every dead letter of the sequence was delivered; `failed`: a relay tried and one
   * failed again (it and those after it stay dead-lettered); `pending`: still marked, delivered
   * when a relay running the subscription gets to it.
   */
  readonly outcome: "delivered" | "failed" | "pending"
  /** The dead letters of the sequence marked for redrive. */
  readonly marked: number
  readonly delivered: number
  /**
   * What became of each of them, in version order (once the relay is done): delivered, failed
   * again under the subscription's retry schedule (with the error), or still parked behind it.
   */
  readonly events: ReadonlyArray<Redrive.Outcome>
  /** What is left of the sequence. */
  readonly remaining: ReadonlyArray<DeadLetter>
  /** Whether a relay held a lease of the subscription when the redrive was marked. */
  readonly relayRunning: boolean
}

/**
 * Mark a dead letter's aggregate sequence for redrive, wake the relays and wait at most `wait` for
 * the partition's owner to redeliver it. Without a relay holding the subscription, returns at once.
 */
export const redrive = (id: string, wait: Duration.DurationInput) =>
  Effect.gen(function*() {
    const store = yield* EventStore
    const checkpoints = yield* Checkpoints
    const deadLetters = yield* DeadLetters
    const letter = yield* find(id)
    const filter = {
      subscription: letter.subscription,
      aggregateType: letter.aggregateType,
      aggregateId: letter.aggregateId
    }
    const sequence = yield* deadLetters.list(filter)
    yield* whileBusy(
      store.withTransaction(Effect.forEach(sequence, (l) => deadLetters.setStatus(l.id, "redrive"), { discard: true }))
    )
    yield* wakeRelays
    const now = yield* Clock.currentTimeMillis
    const relayRunning = (yield* checkpoints.leases(letter.subscription)).some((l) => l.expiresAt > now)
    const deadline = now + Duration.toMillis(Duration.decode(wait))
    let remaining = yield* deadLetters.list(filter)
    while (
      relayRunning && remaining.some((l) => l.status === "redrive") && (yield* Clock.currentTimeMillis) < deadline
    ) {
      yield* Effect.sleep("100 millis")
      remaining = yield* deadLetters.list(filter)
    }
    const marked = new Set(sequence.map((l) => l.id))
    const left = remaining.filter((l) => marked.has(l.id))
    const result: RedriveResult = {
      id,
      subscription: letter.subscription,
      aggregate: `${letter.aggregateType}/${letter.aggregateId}`,
      outcome: remaining.some((l) => l.status === "redrive") ? "pending" : left.length === 0 ? "delivered" : "failed",
      marked: sequence.length,
      delivered: sequence.length - left.length,
      events: remaining.some((l) => l.status === "redrive") ? [] : Redrive.outcomes(sequence, remaining),
      remaining,
      relayRunning
    }
    return result
  })

/** One line per event of a redriven sequence. */
const renderOutcome = (e: Redrive.Outcome): string => {
  const event = `  ${e.eventType} ${e.eventId} @${e.version}: `
  switch (e.outcome) {
    case "delivered":
      return `${event}delivered`
    case "failed":
      return `${event}dead-lettered again (${e.attempts} attempts in all): ${Output.truncate(e.error, 200)}`
    case "parked":
      return `${event}not tried, still parked behind it`
  }
}

/** The outcome of a redrive in a sentence or two, then what became of each event. */
export const renderRedrive = (r: RedriveResult, wait: Duration.DurationInput): string => {
  const what = `${r.marked} dead letter(s) of ${r.aggregate} for ${r.subscription}`
  const events = r.events.map((e) => `\n${renderOutcome(e)}`).join("")
  switch (r.outcome) {
    case "delivered":
      return `redriven: ${what} delivered${events}`
    case "failed": {
      const head = r.events.find((e) => e.outcome === "failed")
      return `redrive failed: ${r.delivered} of ${what} delivered; ${head?.id ?? r.id} failed again${events}\n` +
        `${r.remaining.length} dead letter(s) remain (effect-ddd dead-letters list --subscription ${r.subscription})`
    }
    case "pending":
      return `marked for redrive: ${what}; ` + (r.relayRunning
        ? `not delivered within ${
          Duration.format(Duration.decode(wait))
        }: the relay holding the partition delivers them when it gets to it`
        : `no relay runs ${r.subscription} now: they are delivered when one starts`)
  }
}

/** Drop a dead letter without delivering it; returns what is left of its aggregate's sequence. */
export const discard = (id: string) =>
  Effect.gen(function*() {
    const deadLetters = yield* DeadLetters
    const letter = yield* find(id)
    yield* whileBusy(deadLetters.remove([id]))
    const remaining = yield* deadLetters.list({
      subscription: letter.subscription,
      aggregateType: letter.aggregateType,
      aggregateId: letter.aggregateId
    })
    return { discarded: letter, remaining }
  })

/** The outcome of a discard. */
export const renderDiscard = (
  { discarded, remaining }: { readonly discarded: DeadLetter; readonly remaining: ReadonlyArray<DeadLetter> }
): string =>
  `discarded ${discarded.id} (${discarded.eventType} of ${discarded.aggregateType}/${discarded.aggregateId})` +
  (remaining.length === 0
    ? ""
    : `\n${remaining.length} more dead letter(s) of this aggregate keep it parked: redrive or discard them`)
