/**
 * The relay subscriptions that run a process manager: its reactions (events fed to instances)
 * and its dispatcher (the commands instances send, each executed in a transaction of its own).
 */
import { Effect, Either, Schema } from "effect"
import type * as DomainEvent from "../../../core/DomainEvent.js"
import {
  CommandRejected,
  CommandSkipped,
  CommandSucceeded,
  type DeliveryError,
  type Issued,
  type ProcessManager,
  type Requirements
} from "../../../core/ProcessManager.js"
import * as Subscription from "../../../core/Subscription.js"
import * as Inbox from "../../../ports/Inbox.js"
import * as CommandHandler from "../../CommandHandler.js"
import { causedBy, feed } from "./feed.js"

/** The subscription that feeds the events a process manager reacts to into its instances. */
export const reactions = <Event extends { readonly _tag: string }, S>(
  pm: ProcessManager<Event, S>
): Subscription.Subscription<Event, DeliveryError, Requirements> =>
  Subscription.make({
    name: pm.name,
    events: pm.sources as ReadonlyArray<Subscription.Source<Event>>,
    partitions: pm.partitions,
    retry: pm.retry,
    handle: (event: Event, envelope: DomainEvent.Envelope<Event>) => {
      const instanceId = pm.correlate(event)
      if (instanceId === undefined) return Effect.void
      // an event delivered twice (e.g. replayed) is fed once: the inbox row commits with the instance
      return Effect.asVoid(Inbox.once(feed(pm, instanceId, event, causedBy(envelope)), pm.name, envelope.eventId))
    }
  })

const messageOf = (error: unknown): string =>
  error instanceof Error
    ? error.message
    : typeof error === "object" && error !== null && "message" in error
    ? String((error as { message: unknown }).message)
    : String(error)

const tagOf = (error: unknown): string =>
  typeof error === "object" && error !== null && "_tag" in error ? String((error as { _tag: unknown })._tag) : "Error"

/** Execute one command an instance sent, and feed its outcome back. */
const dispatch = <Event extends { readonly _tag: string }, S>(pm: ProcessManager<Event, S>) =>
  Effect.fnUntraced(function*(issued: Issued<S>, envelope: DomainEvent.Envelope<Issued<S>>) {
    const handler = yield* CommandHandler.CommandHandler
    const target = pm.targets.get(issued.aggregateType)
    const command = target?.commands[issued.command]
    const about = {
      step: issued.step,
      aggregateType: issued.aggregateType,
      aggregateId: issued.aggregateId,
      command: issued.command
    }
    const instanceId = envelope.aggregateId
    // delivered again after its outcome was recorded (a rejection leaves no idempotency record,
    // and the aggregate may accept the command now): nothing to do
    const instance = yield* handler.load(pm.instances, instanceId)
    if (instance.state.steps.find((s) => s.step === issued.step)?.outcome !== "pending") return
    // compensation has begun: actions not yet executed are not started any more
    const { status } = instance.state
    if (issued.kind === "action" && (status === "compensating" || status === "compensated")) {
      return yield* feed(pm, instanceId, CommandSkipped.make({ step: issued.step }), causedBy(envelope))
    }
    const reject = (error: { readonly _tag: string; readonly message: string }) =>
      feed(pm, instanceId, CommandRejected.make({ ...about, error }), causedBy(envelope))
    if (target === undefined || command === undefined) {
      return yield* reject({
        _tag: "UnknownCommand",
        message: `${issued.aggregateType}.${issued.command} is not sent by ${pm.name}`
      })
    }
    const input = Schema.decodeUnknownEither(command.input as Schema.Schema<unknown, unknown>)(issued.input)
    if (Either.isLeft(input)) return yield* reject({ _tag: "InvalidInput", message: input.left.message })
    const executed = yield* Effect.either(handler.execute(target, issued.aggregateId, issued.command, input.right, {
      idempotencyKey: `${pm.name}:${instanceId}:${issued.step}`,
      metadata: causedBy(envelope)
    }))
    if (Either.isLeft(executed)) {
      // the store failing is retried; the aggregate refusing is an outcome the process reacts to
      if (CommandHandler.isInfrastructureError(executed.left)) return yield* Effect.fail(executed.left)
      return yield* reject({ _tag: tagOf(executed.left), message: messageOf(executed.left) })
    }
    yield* feed(pm, instanceId, CommandSucceeded.make(about), causedBy(envelope))
  })

/** The subscription that executes the commands a process manager sends, in order per instance. */
export const dispatcher = <Event extends { readonly _tag: string }, S>(
  pm: ProcessManager<Event, S>
): Subscription.Subscription<Issued<S>, DeliveryError, Requirements> =>
  Subscription.make({
    name: `${pm.name}.commands`,
    events: [Subscription.on(pm.instances, "CommandIssued")],
    partitions: pm.partitions,
    retry: pm.retry,
    // each command in a transaction of its own (with the checkpoint and the step's outcome)
    batchSize: 1,
    handle: dispatch(pm)
  })

/** Both subscriptions of a process manager. */
export const subscriptions = <Event extends { readonly _tag: string }, S>(pm: ProcessManager<Event, S>) =>
  [reactions(pm), dispatcher(pm)] as const

/** The current instance of a process manager. */
export const load = <Event extends { readonly _tag: string }, S>(pm: ProcessManager<Event, S>, instanceId: string) =>
  Effect.map(CommandHandler.load(pm.instances, instanceId), (snapshot) => snapshot.state)
