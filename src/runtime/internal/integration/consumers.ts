/**
 * Running integration consumers: per consumer, the broker's durable per-key consumer as a stream
 * whose messages are processed up to `concurrency` at once (different keys: the broker hands out
 * a key's next message only once the previous one is settled), the dead-letter watcher that
 * carries out redrives and keeps the parked keys, and the lag gauge.
 */
import { Duration, Effect, MetricLabel, Schedule, type Scope, Stream } from "effect"
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
    // `concurrency` workers, each handed the stream's next message when it is idle (the stream
    // waits while none is, so it is pulled only as fast as messages are processed), handling it
    // under a permit (the dead letter watch takes them all): a few steps of a fiber per message,
    // where a fiber forked for each cost a fiber and twice the steps, and `Stream.mapEffect` with a
    // concurrency, which runs each element through a channel of its own, ten times as many
    const handOff = makeHandOff<IncomingMessage>()
    const worker: Effect.Effect<never> = Effect.flatMap(handOff.take, (message) =>
      Effect.zipRight(
        gate.take(1),
        Effect.zipRight(
          // a defect is the message's alone: logged, and the message left to the broker's redelivery
          Effect.catchAllDefect(
            process_(message),
            (defect) => Effect.logError(`${consumer.name}: handling message ${message.id} failed`, defect)
          ),
          Effect.zipRight(gate.release(1), worker)
        )
      ))
    for (let i = 0; i < consumer.concurrency; i++) yield* Effect.forkScoped(worker)
    yield* broker.consume({
      name: consumer.name,
      subjects: subjectsOf(consumer),
      ordering: "per-key",
      ...(consumer.ackWait === undefined ? {} : { ackWait: consumer.ackWait })
    }).pipe(
      Stream.runForEach(handOff.give),
      Effect.tapError((error) => Effect.logError(`${consumer.name}: consuming failed, restarting`, error)),
      Effect.retry(Schedule.spaced(Duration.seconds(1))),
      Effect.forkScoped
    )
  })

/**
 * From one giver to idle takers, one value at a time: `give` hands a value to a taker waiting for
 * one, or waits until one does. Neither leaves a waiter behind when interrupted: a taker or giver
 * interrupted while waiting is dropped, and a value handed to an interrupted taker is lost (the
 * workers and the stream stop together, and a message not settled comes back).
 */
const makeHandOff = <A>() => {
  const takers: Array<(value: A) => void> = []
  let giving: (() => void) | undefined
  const take: Effect.Effect<A> = Effect.async<A>((resume) => {
    takers.push((value) => resume(Effect.succeed(value)))
    if (giving !== undefined) {
      const give = giving
      giving = undefined
      give()
    }
  })
  const give = (value: A): Effect.Effect<void> =>
    Effect.suspend(() => {
      const taker = takers.pop()
      if (taker !== undefined) {
        taker(value)
        return Effect.void
      }
      return Effect.async<void>((resume) => {
        giving = () => {
          takers.pop()!(value)
          resume(Effect.void)
        }
      })
    })
  return { take, give }
}

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
