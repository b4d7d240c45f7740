/**
 * Running integration consumers: per consumer, the broker's durable per-key consumer as a stream
 * whose messages are processed up to `concurrency` at once (different keys: the broker hands out
 * a key's next message only once the previous one is settled), the dead-letter watcher that
 * carries out redrives and keeps the parked keys, and the lag gauge.
 */
import { Duration, Effect, FiberSet, MetricLabel, Schedule, type Scope, Stream } from "effect"
import * as Telemetry from "../../../operations/Telemetry.js"
import { DeadLetters } from "../../../ports/DeadLetters.js"
import { EventStore } from "../../../ports/EventStore.js"
import { Inbox } from "../../../ports/Inbox.js"
import { type IncomingMessage, MessageBroker, type Service as Broker } from "../../../ports/MessageBroker.js"
import { type Consumer, process, type Runtime, type State } from "./message.js"
import * as Redrive from "./redrive.js"

export interface RunnableConsumer extends Consumer {
  readonly concurrency: number
  readonly ackWait: Duration.DurationInput | undefined
}

export interface Options {
  readonly pollInterval?: Duration.DurationInput | undefined
  readonly lagInterval?: Duration.DurationInput | undefined
}

/** The subject patterns of what a consumer accepts: every version of each type. */
export const subjectsOf = (consumer: Consumer): ReadonlyArray<string> => consumer.events.map((e) => `${e.type}.*`)

const runOne = (
  runtime: Runtime,
  broker: Broker,
  consumer: RunnableConsumer,
  options: Options
): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function*() {
    const state: State = { parked: new Set() }
    const process_ = (message: IncomingMessage) => process(runtime, consumer, state, message) as Effect.Effect<void>
    const gate = yield* Effect.makeSemaphore(consumer.concurrency)
    const pollInterval = options.pollInterval ?? "1 second"
    const watch = gate.withPermits(consumer.concurrency)(Redrive.run(runtime, consumer, state))
    // the parked keys before the first message
    yield* watch.pipe(
      Effect.tapError((error) => Effect.logWarning(`${consumer.name}: cannot read its dead letters, retrying`, error)),
      Effect.retry(Schedule.spaced(pollInterval)),
      Effect.orDie
    )
    yield* watch.pipe(
      Effect.catchAllCause((cause) => Effect.logWarning(`${consumer.name}: dead letter watch failed`, cause)),
      Effect.zipRight(Effect.sleep(pollInterval)),
      Effect.forever,
      Effect.forkScoped
    )
    const tags = [MetricLabel.make("consumer", consumer.name)]
    yield* broker.lag(consumer.name).pipe(
      Effect.tap((lag) => Effect.sync(() => Telemetry.consumerLag.unsafeUpdate(lag, tags))),
      Effect.ignore,
      Effect.zipRight(Effect.sleep(options.lagInterval ?? "5 seconds")),
      Effect.forever,
      Effect.forkScoped
    )
    // each message in a fiber of its own, forked once a permit is free (so the stream is pulled
    // only as fast as messages are processed): a tenth of the cost per message of
    // `Stream.mapEffect` with a concurrency, which runs each element through a channel of its own
    const inFlight = yield* FiberSet.make()
    yield* broker.consume({
      name: consumer.name,
      subjects: subjectsOf(consumer),
      ordering: "per-key",
      ...(consumer.ackWait === undefined ? {} : { ackWait: consumer.ackWait })
    }).pipe(
      Stream.runForEach((message) =>
        Effect.zipRight(
          gate.take(1),
          FiberSet.run(
            inFlight,
            process_(message).pipe(
              // a defect is the message's alone: logged, and the message left to the broker's redelivery
              Effect.catchAllDefect((defect) =>
                Effect.logError(`${consumer.name}: handling message ${message.id} failed`, defect)
              ),
              Effect.ensuring(gate.release(1))
            )
          )
        )
      ),
      Effect.tapError((error) => Effect.logError(`${consumer.name}: consuming failed, restarting`, error)),
      Effect.retry(Schedule.spaced(Duration.seconds(1))),
      Effect.forkScoped
    )
  })

export const run = (consumers: ReadonlyArray<RunnableConsumer>, options: Options) =>
  Effect.gen(function*() {
    const runtime: Runtime = {
      store: yield* EventStore,
      inbox: yield* Inbox,
      deadLetters: yield* DeadLetters,
      tracing: (yield* Telemetry.Enabled).tracing
    }
    const broker = yield* MessageBroker
    const names = new Set<string>()
    for (const consumer of consumers) {
      if (names.has(consumer.name)) {
        return yield* Effect.dieMessage(`IntegrationConsumer.layer: two consumers are named ${consumer.name}`)
      }
      names.add(consumer.name)
    }
    // handlers' requirements are in the layer's context: the consumers are forked from it
    yield* Effect.forEach(consumers, (consumer) => runOne(runtime, broker, consumer, options), { discard: true })
  })
