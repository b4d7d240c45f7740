/**
 * The connection: established in a background fiber that retries until the server answers (so a
 * service starts while the broker is down), reconnecting forever once connected, drained when the
 * layer's scope closes. Its status is tracked so that publishing fails fast with `Unavailable`
 * while disconnected instead of waiting for a timeout.
 */
import { jetstream, type JetStreamClient, type JetStreamManager, jetstreamManager } from "@nats-io/jetstream"
import { connect, type NatsConnection, type NodeConnectionOptions } from "@nats-io/transport-node"
import { Deferred, Duration, Effect, Option, Schedule, type Scope } from "effect"
import { MessageBrokerError } from "../../../ports/MessageBroker.js"
import { toBrokerError } from "./errors.js"

export interface Handles {
  readonly nc: NatsConnection
  readonly js: JetStreamClient
  readonly jsm: JetStreamManager
}

export interface Link<P> {
  /** The handles and the provisioning result, failing fast while not connected. */
  readonly current: Effect.Effect<Handles & { readonly provisioned: P }, MessageBrokerError>
  /** The same, waiting for the first connection. */
  readonly await: Effect.Effect<Handles & { readonly provisioned: P }, MessageBrokerError>
  readonly status: Effect.Effect<"connecting" | "connected" | "disconnected" | "closed">
  readonly isConnected: () => boolean
}

export interface ConnectionSettings {
  readonly options: NodeConnectionOptions
  readonly requestTimeout: Duration.Duration
  readonly reconnectWait: Duration.Duration
}

const connectOnce = (options: NodeConnectionOptions) =>
  Effect.tryPromise({
    try: (signal) => {
      const pending = connect(options)
      // an interrupted attempt that connects afterwards is closed at once
      signal.addEventListener("abort", () => void pending.then((nc) => nc.close()).catch(() => undefined))
      return pending
    },
    catch: toBrokerError(`cannot connect to ${String(options.servers)}`)
  })

const drain = (nc: NatsConnection) =>
  Effect.promise(() => nc.drain().catch(() => undefined)).pipe(
    Effect.timeout("5 seconds"),
    Effect.catchAll(() => Effect.promise(() => nc.close().catch(() => undefined)))
  )

export const make = <P>(
  settings: ConnectionSettings,
  provision: (handles: Handles) => Effect.Effect<P, MessageBrokerError>
): Effect.Effect<Link<P>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const ready = yield* Deferred.make<Handles & { readonly provisioned: P }, MessageBrokerError>()
    let state: "connecting" | "connected" | "disconnected" | "closed" = "connecting"
    const options: NodeConnectionOptions = {
      ...settings.options,
      maxReconnectAttempts: -1,
      reconnectTimeWait: Duration.toMillis(settings.reconnectWait),
      waitOnFirstConnect: false
    }
    const timeout = Duration.toMillis(settings.requestTimeout)

    const establish = Effect.uninterruptibleMask((restore) =>
      Effect.gen(function*() {
        const nc = yield* restore(connectOnce(options))
        const connected = yield* restore(Effect.gen(function*() {
          const jsm = yield* Effect.tryPromise({
            try: () => jetstreamManager(nc, { timeout }),
            catch: toBrokerError("JetStream is not available")
          })
          const handles = { nc, js: jetstream(nc, { timeout }), jsm }
          return { ...handles, provisioned: yield* provision(handles) }
        })).pipe(Effect.onError(() => Effect.promise(() => nc.close().catch(() => undefined))))
        yield* Effect.addFinalizer(() =>
          Effect.zipRight(
            Effect.sync(() => {
              state = "closed"
            }),
            drain(nc)
          )
        )
        state = "connected"
        void (async () => {
          for await (const s of nc.status()) {
            if (s.type === "disconnect") state = "disconnected"
            else if (s.type === "reconnect") state = "connected"
          }
        })().catch(() => undefined)
        return connected
      })
    )

    // the first connection: retried (a fresh attempt each time) until the server answers and the
    // stream is provisioned; a refused configuration (`Rejected`) is final
    yield* establish.pipe(
      Effect.tapError((error) =>
        error.reason === "Rejected" ? Effect.void : Effect.logDebug(`NATS: ${error.detail}; retrying`)
      ),
      Effect.retry({ schedule: Schedule.spaced(settings.reconnectWait), while: (e) => e.reason !== "Rejected" }),
      Effect.exit,
      Effect.flatMap((exit) => Deferred.done(ready, exit)),
      Effect.forkScoped
    )

    const notReady = () =>
      new MessageBrokerError({
        reason: "Unavailable",
        detail: state === "connecting" ? "not connected to NATS yet" : `the NATS connection is ${state}`
      })
    return {
      current: Effect.flatMap(Deferred.poll(ready), (polled) =>
        Option.match(polled, {
          onNone: () => Effect.fail(notReady()),
          onSome: (result) => state === "connected" ? result : Effect.fail(notReady())
        })),
      await: Deferred.await(ready),
      status: Effect.sync(() => state),
      isConnected: () => state === "connected"
    }
  })
