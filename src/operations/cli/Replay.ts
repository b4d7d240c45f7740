/**
 * `effect-ddd replay <subscription>`: deliver a subscription's events again from a position (or
 * from the start), to rebuild a projection.
 *
 * The running relay does the work. The CLI moves the subscription's checkpoints back with
 * `Checkpoints.reset`, which fences each partition's lease holder out (a new token, the lease
 * released) in the same transaction: a delivery in flight cannot commit its checkpoint over the
 * moved one (on PostgreSQL the reset waits for it), and the relay that takes the lease next reads
 * the moved checkpoint and delivers from there. So it is safe with relays running, stopped or
 * paused, and nothing needs to be stopped first. Dead letters at or after the position are removed
 * in the same transaction, since their events are delivered again. The read model itself is the
 * application's: a projection replayed from the start must tolerate its events again (upserts), or
 * have its tables cleared first. A replay from before events that were pruned is refused
 * (`EventsPruned`): the projection would be rebuilt without them.
 */
import { Clock, Duration, Effect, Option } from "effect"
import { Checkpoints } from "../../ports/Checkpoints.js"
import { DeadLetters } from "../../ports/DeadLetters.js"
import { EventStore, type EventStoreError, type LogCursor, type LogFilter, logStart } from "../../ports/EventStore.js"
import * as Pruning from "../../ports/Pruning.js"
import { type SubscriptionInfo, SubscriptionRegistry } from "../../ports/SubscriptionRegistry.js"
import { CliError, whileBusy } from "./CliError.js"
import { wakeRelays } from "./DeadLetters.js"
import * as Output from "./Output.js"

/** One partition's checkpoint before and after the replay was requested. */
export interface MovedPartition {
  readonly partition: number
  readonly before: LogCursor
  readonly after: LogCursor
  /** False when the checkpoint was already at or before the position. */
  readonly moved: boolean
}

/** What `rewind` did. */
export interface Rewound {
  readonly subscription: string
  readonly kind: SubscriptionInfo["kind"]
  /** The position replayed from; null: from the start of the log. */
  readonly from: number | null
  readonly partitions: ReadonlyArray<MovedPartition>
  readonly deadLettersCleared: number
  /** Events to deliver (again) once the checkpoints moved. */
  readonly backlog: number
}

const compare = (a: LogCursor, b: LogCursor) => a.commitOrder - b.commitOrder || a.position - b.position

const filterOf = (info: SubscriptionInfo, partition: number): LogFilter => ({
  sources: info.sources,
  partition: { count: info.partitions, index: partition }
})

/** The events the relay still has to deliver to a subscription. */
export const backlog = (info: SubscriptionInfo): Effect.Effect<number, EventStoreError, EventStore | Checkpoints> =>
  Effect.gen(function*() {
    const store = yield* EventStore
    const checkpoints = yield* Checkpoints
    let total = 0
    for (let partition = 0; partition < info.partitions; partition++) {
      total += (yield* store.backlog(yield* checkpoints.get(info.name, partition), filterOf(info, partition))).count
    }
    return total
  })

/** The recorded subscription of this name. */
export const find = (name: string): Effect.Effect<SubscriptionInfo, CliError | EventStoreError, SubscriptionRegistry> =>
  Effect.gen(function*() {
    const all = yield* (yield* SubscriptionRegistry).list
    const info = all.find((s) => s.name === name)
    if (info !== undefined) return info
    return yield* new CliError({
      message: `no subscription ${name} is recorded (${
        all.length === 0
          ? "none is: a relay records the subscriptions it runs when it starts"
          : `known: ${all.map((s) => s.name).join(", ")}`
      })`
    })
  })

/**
 * Move the checkpoints of a subscription back to just before `from` (the start of the log when
 * absent), fencing out the relays that hold its partitions, and clear its dead letters from there.
 * A `handler` (not a projection) is refused unless `force`: its effects would happen again.
 */
export const rewind = (name: string, from: Option.Option<number>, force: boolean) =>
  Effect.gen(function*() {
    const store = yield* EventStore
    const checkpoints = yield* Checkpoints
    const deadLetters = yield* DeadLetters
    const info = yield* find(name)
    if (info.kind !== "projection" && !force) {
      return yield* new CliError({
        message: `${name} is a ${info.kind}, not a projection: replaying it runs its effects again for every event ` +
          `(commands, calls to other systems); pass --force if it is idempotent`
      })
    }
    const target = Option.isNone(from) || from.value <= 1
      ? logStart
      : yield* Effect.flatMap(store.cursorBefore(from.value), (cursor) =>
        Option.match(cursor, {
          onNone: () => Effect.fail(new CliError({ message: `no event at or after position ${from.value}` })),
          onSome: Effect.succeed
        }))
    // events pruned after the target would be skipped silently: refuse (EventsPruned)
    yield* Pruning.ensureReadable(info.sources.map((s) => s.aggregateType), target)
    const { cleared, partitions } = yield* whileBusy(store.withTransaction(Effect.gen(function*() {
      // dead letters before leases: the order a delivery takes its row locks in (PostgreSQL)
      const letters = yield* deadLetters.list({ subscription: name })
      const cleared = letters.filter((l) => Option.isNone(from) || l.position >= from.value).map((l) => l.id)
      yield* deadLetters.remove(cleared)
      const partitions: Array<MovedPartition> = []
      for (let partition = 0; partition < info.partitions; partition++) {
        const before = yield* checkpoints.get(name, partition)
        const moved = compare(before, target) > 0
        if (moved) yield* checkpoints.reset(name, partition, target)
        partitions.push({ partition, before, after: moved ? target : before, moved })
      }
      return { cleared: cleared.length, partitions }
    })))
    yield* wakeRelays
    const rewound: Rewound = {
      subscription: name,
      kind: info.kind,
      from: Option.getOrNull(from),
      partitions,
      deadLettersCleared: cleared,
      backlog: yield* backlog(info)
    }
    return { info, rewound }
  })

/** How following the replay ended. */
export interface Followed {
  /**
   * `caught-up`: nothing left to deliver; `no-relay`: no relay holds the subscription (the replay
   * runs when one starts); `stalled`: a relay holds it but delivered nothing for a while (a failing
   * handler retrying?).
   */
  readonly outcome: "caught-up" | "no-relay" | "stalled"
  readonly delivered: number
  readonly remaining: number
  readonly elapsedMillis: number
}

/**
 * Watch the relay deliver the backlog, reporting progress, until nothing is left or nothing was
 * delivered for `stall`.
 */
export const follow = (
  info: SubscriptionInfo,
  total: number,
  stall: Duration.DurationInput,
  onProgress: (
    progress: { readonly delivered: number; readonly total: number; readonly elapsedMillis: number }
  ) => Effect.Effect<void>
): Effect.Effect<Followed, EventStoreError, EventStore | Checkpoints> =>
  Effect.gen(function*() {
    const checkpoints = yield* Checkpoints
    const stallMillis = Duration.toMillis(Duration.decode(stall))
    const started = yield* Clock.currentTimeMillis
    let remaining = total
    let lastProgressAt = started
    /** Done: caught up, or nothing delivered for `stall` (with or without a relay holding it). */
    const done = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const elapsedMillis = now - started
      if (remaining === 0) {
        return Option.some<Followed>({ outcome: "caught-up", delivered: total, remaining, elapsedMillis })
      }
      if (now - lastProgressAt < stallMillis) return Option.none<Followed>()
      const live = (yield* checkpoints.leases(info.name)).some((l) => l.expiresAt > now)
      return Option.some<Followed>({
        outcome: live ? "stalled" : "no-relay",
        delivered: Math.max(0, total - remaining),
        remaining,
        elapsedMillis
      })
    })
    /** Read the backlog again and report progress. */
    const poll = Effect.gen(function*() {
      const next = yield* backlog(info)
      if (next < remaining) lastProgressAt = yield* Clock.currentTimeMillis
      remaining = next
      yield* onProgress({
        delivered: Math.max(0, total - remaining),
        total,
        elapsedMillis: (yield* Clock.currentTimeMillis) - started
      })
    })
    const first = yield* done
    if (Option.isSome(first)) return first.value
    const last = yield* Effect.repeat(Effect.delay(Effect.zipRight(poll, done), "500 millis"), { until: Option.isSome })
    return Option.getOrThrow(last)
  })

/** What `rewind` did, in a sentence. */
export const renderRewound = (r: Rewound): string => {
  const moved = r.partitions.filter((p) => p.moved).length
  return `replay of ${r.subscription} from ${r.from === null ? "the start of the log" : `position ${r.from}`}: ` +
    `${moved} of ${r.partitions.length} checkpoint(s) moved back` +
    (r.deadLettersCleared === 0 ? "" : `, ${r.deadLettersCleared} dead letter(s) cleared`) +
    `; ${Output.count(r.backlog)} event(s) to deliver`
}

/** A progress line: `1,200 / 5,000 events (24%), 600/s`. */
export const renderProgress = (
  p: { readonly delivered: number; readonly total: number; readonly elapsedMillis: number }
): string => {
  const percent = p.total === 0 ? 100 : Math.floor((p.delivered / p.total) * 100)
  const rate = p.elapsedMillis > 0 ? Math.round((p.delivered * 1_000) / p.elapsedMillis) : 0
  return `${Output.count(p.delivered)} / ${Output.count(p.total)} events (${percent}%), ${Output.count(rate)}/s`
}

/** How following ended, in a sentence. */
export const renderFollowed = (name: string, f: Followed, stall: Duration.DurationInput): string => {
  switch (f.outcome) {
    case "caught-up":
      return `replayed: ${Output.count(f.delivered)} event(s) delivered in ${Output.duration(f.elapsedMillis)}`
    case "no-relay":
      return `no relay runs ${name} now: the replay proceeds when one starts (${
        Output.count(f.remaining)
      } event(s) to deliver)`
    case "stalled":
      return `nothing delivered for ${Duration.format(Duration.decode(stall))} (${
        Output.count(f.remaining)
      } event(s) left): ` +
        `the relay goes on; see effect-ddd status and effect-ddd dead-letters list --subscription ${name}`
  }
}
