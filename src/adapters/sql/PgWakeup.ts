/**
 * The cross-process wake-up on PostgreSQL (LISTEN/NOTIFY): commits made by other processes wake
 * this process's relay at once instead of at its next poll.
 *
 * While the layer is up it does two things:
 * - **Forwarding**: after local commits (`CommitSignal`'s `nextCommit`) it sends one
 *   `pg_notify(channel, payload)` after a short debounce, outside any transaction, one at a time.
 *   A burst of commits becomes one notification, and the commands do not pay for it: a `NOTIFY`
 *   inside each command transaction serializes their commits on PostgreSQL's notification queue
 *   (28-45% of the command throughput in the benchmarks). The payload is the process's id and,
 *   when the signal knows them and they fit, the streams committed (`id;[["Order", 123], ...]`:
 *   aggregate type and stream hash).
 * - **Listening**: a notification from another process that lists its streams wakes only the
 *   partitions reading them (`wakeFor`); any other calls `wake`, for every partition. Neither is
 *   a local commit, so nothing is forwarded back, and the process's own notifications
 *   (recognised by its id) are ignored.
 *
 * Notifications are a hint, never the source of truth: the relay still reads the log after its
 * checkpoint and keeps polling as a fallback, so a lost notification only costs latency. The
 * listening connection is checked by a heartbeat (a ping to itself), because `PgClient.listen`
 * does not fail when its connection is lost; when it is, it is opened again with a backoff, and
 * the waiters are woken once in case something was missed meanwhile. (`PgClient` shares one
 * listening connection between all `listen` streams of a client: a lost one is replaced only once
 * every stream on it has stopped, so other long-lived `listen` streams on the same client should
 * also restart when it is lost.)
 *
 * The example server's PostgreSQL layer (`examples/http-server/Sql.ts`):
 * {@includeCode ../../../examples/http-server/Sql.ts#pg}
 *
 * Anything may wake the relays by notifying the channel with a non-empty payload (PostgreSQL
 * drops empty ones), e.g. a trigger: `SELECT pg_notify('effect_ddd_events', 'import')`.
 *
 * @since 0.1.0
 * @module
 */
import { SqlClient } from "@effect/sql"
import type { PgClient as Pg } from "@effect/sql-pg"
import {
  Cause,
  type Chunk,
  Context,
  Deferred,
  Duration,
  Effect,
  Exit,
  Fiber,
  FiberId,
  Layer,
  Option,
  Random,
  Schedule,
  type Scope,
  Stream
} from "effect"
import * as CommitSignal from "../../runtime/internal/commitSignal.js"
import * as EffectSql from "./internal/effectSql.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The notification channel (default `"effect_ddd_events"`); all processes must agree on it. */
  readonly channel?: string
  /**
   * How long to wait after a local commit before notifying, so the commits of a burst share one
   * notification. Default `0`: until the event loop's next turn (`setImmediate`), so the commits
   * that complete together (a group commit, a burst of fibers) share one, and since at most one
   * notification is in flight, the commits made during its round trip share the next: under load
   * there are at most about one per round trip (self-limiting: a busier database answers later).
   * This adds about 0.1 ms to the cross-process latency; a positive value coalesces more at the
   * cost of that much latency (Node's timers add about 1 ms even to `"1 millis"`).
   */
  readonly debounce?: Duration.DurationInput
  /**
   * How often the listening connection is checked with a ping to itself (default 5 seconds). A
   * ping not answered within the heartbeat (at most 2 seconds) counts as a lost connection.
   */
  readonly heartbeat?: Duration.DurationInput
}

/**
 * The default notification channel.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultChannel = "effect_ddd_events"

/**
 * The default debounce: none beyond the event loop's next turn (see `Options.debounce`). Measured
 * on a loaded two-core machine, from a commit in one pool to the waiter of another: p50 0.8-1.0 ms,
 * against 1.8-3.0 ms with a 1 ms debounce.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultDebounce: Duration.Duration = Duration.zero

const PING = "ping:"

/** The next turn of the event loop, after the I/O callbacks already due. */
const nextTurn = Effect.async<void>((resume) => {
  const handle = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(handle))
})

/** Longest list of committed streams sent in a notification (PostgreSQL's limit is 8000 bytes). */
const MOST_PAYLOAD = 7000

/**
 * A notification: the sender's id, then what it committed (`[aggregate type, stream hash]`
 * pairs, as JSON) when it knows and the list fits; without a list, every partition wakes.
 */
const payloadOf = (id: string, committed: ReadonlyArray<CommitSignal.Committed> | undefined): string => {
  if (committed === undefined || committed.length === 0) return id
  const list = JSON.stringify(committed.map((event) => [event.aggregateType, event.streamHash]))
  return list.length > MOST_PAYLOAD ? id : `${id};${list}`
}

const parsePayload = (
  payload: string
): { readonly sender: string; readonly events: ReadonlyArray<CommitSignal.Committed> | undefined } => {
  const at = payload.indexOf(";")
  if (at < 0) return { sender: payload, events: undefined }
  try {
    const list: unknown = JSON.parse(payload.slice(at + 1))
    const events = Array.isArray(list) &&
        list.every((pair) =>
          Array.isArray(pair) && pair.length === 2 && typeof pair[0] === "string" && Number.isInteger(pair[1])
        )
      ? list.map(([aggregateType, streamHash]: [string, number]) => ({ aggregateType, streamHash }))
      : undefined
    return { sender: payload.slice(0, at), events }
  } catch {
    // not ours to read: wake every partition
    return { sender: payload.slice(0, at), events: undefined }
  }
}

/**
 * Forward local commits to other processes and wake on theirs, while the scope is open.
 *
 * Returns once the channel is listened to (or after 10 seconds without an answer, with a warning;
 * listening goes on being retried in the background), so no notification sent afterwards is lost.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<void, never, Pg.PgClient | Scope.Scope> =>
  Effect.gen(function*() {
    const pg = yield* EffectSql.PgClientTag
    const signal = yield* CommitSignal.CommitSignal
    const channel = options.channel ?? defaultChannel
    const debounce = Duration.decode(options.debounce ?? defaultDebounce)
    const heartbeat = Duration.decode(options.heartbeat ?? "5 seconds")
    const pingTimeout = Duration.min(heartbeat, Duration.seconds(2))
    // the payload of this process's notifications: its pid and a random part (many per process in tests)
    const id = `${process.pid}.${(yield* Random.nextIntBetween(0, 2 ** 31)).toString(36)}`
    const ping = `${PING}${id}`

    /** One `pg_notify` through the pool, never in the caller's transaction. */
    const send = (payload: string) =>
      pg.unsafe("SELECT pg_notify($1, $2)", [channel, payload]).pipe(
        Effect.asVoid,
        Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => new Error("pg_notify timed out") }),
        Effect.mapInputContext((context: Context.Context<never>) =>
          Context.omit(SqlClient.TransactionConnection)(context)
        )
      )

    // --- listening --------------------------------------------------------------------------

    let pong = Deferred.unsafeMake<void>(FiberId.none)

    const onNotifications = (payloads: Chunk.Chunk<string>) =>
      Effect.suspend(() => {
        let everything = false
        const committed: Array<CommitSignal.Committed> = []
        for (const payload of payloads) {
          if (payload === ping) Deferred.unsafeDone(pong, Exit.void)
          else if (!payload.startsWith(PING)) {
            const { sender, events } = parsePayload(payload)
            if (sender === id) continue
            if (events === undefined) everything = true
            else committed.push(...events)
          }
        }
        return everything ? signal.wake : committed.length > 0 ? signal.wakeFor(committed) : Effect.void
      })

    /**
     * Ping ourselves: true if the notification came back through the listening connection within
     * `timeout` of being sent (the wait for a pooled connection does not count).
     */
    const pingSelf = (timeout: Duration.Duration) =>
      Effect.suspend(() => {
        const answer = Deferred.unsafeMake<void>(FiberId.none)
        pong = answer
        return send(ping).pipe(
          Effect.zipRight(Effect.timeoutOption(Deferred.await(answer), timeout)),
          Effect.map(Option.isSome),
          Effect.catchAll(() => Effect.succeed(false))
        )
      })

    const started = Deferred.unsafeMake<void>(FiberId.none)
    let everReady = false

    /**
     * Listen until the connection is found lost (or the stream fails): LISTEN is sent when the
     * stream starts, so pings confirm it took effect before the listener counts as ready.
     */
    const listenOnce = Effect.scoped(Effect.gen(function*() {
      let ready = false
      const listener = yield* Effect.acquireRelease(
        Effect.forkDaemon(Effect.interruptible(Stream.runForEachChunk(pg.listen(channel), onNotifications))),
        // UNLISTEN on a broken connection may hang until the socket times out: do not wait for it
        (fiber) => Effect.ignore(Effect.timeout(Effect.interruptible(Fiber.interrupt(fiber)), "2 seconds"))
      )
      /** Ping ourselves; fail with `error` unless the ping came back within `timeout`. */
      const answered = (timeout: Duration.Duration, error: string) =>
        Effect.filterOrFail(pingSelf(timeout), (ok) => ok, () => new Error(error))
      const watch = Effect.gen(function*() {
        // up to 10 seconds for the LISTEN to take effect, pinging every 20 ms or so (10 ms apart,
        // in case a ping fails at once)
        yield* Effect.retry(
          answered(Duration.millis(20), `LISTEN ${channel} was not confirmed`),
          Schedule.spaced("10 millis").pipe(Schedule.upTo("10 seconds"))
        )
        ready = true
        if (everReady) {
          // notifications sent while the connection was down are lost: look once
          yield* signal.wake
        }
        everReady = true
        yield* Deferred.succeed(started, undefined)
        // a ping every heartbeat, until one does not come back
        return yield* Effect.zipRight(
          Effect.sleep(heartbeat),
          Effect.repeat(
            answered(pingTimeout, `the connection listening on ${channel} does not answer`),
            Schedule.spaced(heartbeat)
          )
        )
      })
      const exit = yield* Effect.exit(Effect.raceFirst(
        watch,
        Effect.flatMap(Fiber.join(listener), () => Effect.fail(new Error(`LISTEN ${channel} ended`)))
      ))
      return { ready, exit }
    }))

    // listen again 100 ms after a connection that worked, then doubling up to 5 seconds while none does
    let delay = 50
    const listenAgain = Schedule.identity<unknown>().pipe(Schedule.addDelay(() => Duration.millis(delay)))
    const listenForever = listenOnce.pipe(
      Effect.flatMap(({ exit, ready }) => {
        delay = ready ? 100 : Math.min(delay * 2, 5_000)
        if (Exit.isSuccess(exit)) return Effect.void
        if (Cause.isInterruptedOnly(exit.cause)) return exit
        return Effect.logWarning(`PgWakeup: listening on ${channel} restarts in ${delay} ms`, exit.cause)
      }),
      Effect.repeat(listenAgain)
    )

    // --- forwarding -------------------------------------------------------------------------

    const pause = Duration.isZero(debounce) ? nextTurn : Effect.sleep(debounce)
    // taken now, so a commit right after the layer is built is forwarded too
    const firstCommit = yield* signal.nextCommit
    /** One round: wait for a commit and the pause, notify what committed; the next round's commit. */
    const forwardRound = (commit: Effect.Effect<void>) =>
      Effect.gen(function*() {
        yield* commit
        yield* pause
        // commits from here on are the next round's: this notification is sent after the others
        const next = yield* signal.nextCommit
        const committed = yield* signal.takeCommitted
        yield* Effect.catchAllCause(
          send(payloadOf(id, committed)),
          (cause) => Effect.logWarning(`PgWakeup: pg_notify on ${channel} failed`, cause)
        )
        return next
      })
    const forward = Effect.iterate(firstCommit, { while: () => true, body: forwardRound })

    yield* Effect.forkScoped(listenForever)
    yield* Effect.forkScoped(forward)
    yield* Deferred.await(started).pipe(
      Effect.timeoutOption("10 seconds"),
      Effect.flatMap((ok) =>
        ok._tag === "Some"
          ? Effect.void
          : Effect.logWarning(`PgWakeup: not listening on ${channel} yet; the relay polls until it is`)
      )
    )
  }).pipe(Effect.annotateLogs({ module: "PgWakeup" }))

/**
 * The cross-process wake-up as a scoped layer: add it beside the `PgClient` of the processes that
 * write commands and of those that run the relay.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<never, never, Pg.PgClient> =>
  Layer.scopedDiscard(make(options))
