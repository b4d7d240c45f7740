/**
 * A graceful stop for the relay: when the layer closes (before the relay's own scope does), wait
 * until every partition this process holds has delivered the events already in the log, or
 * until the timeout. Whatever is left is delivered after the next start (or by another process),
 * since an interrupted delivery rolls back without moving its checkpoint.
 */
import { type Duration, Effect, Layer, Schedule } from "effect"
import { Checkpoints, EventStore, Relay, Subscription } from "effect-ddd"

/** Whether a partition this relay holds has events after its checkpoint. */
const hasPending = (subscriptions: ReadonlyArray<Subscription.Any>) =>
  Effect.gen(function*() {
    const relay = yield* Relay.Relay
    const checkpoints = yield* Checkpoints.Checkpoints
    const store = yield* EventStore.EventStore
    for (const subscription of subscriptions) {
      const held = (yield* checkpoints.leases(subscription.name)).filter((lease) => lease.owner === relay.owner)
      for (const { partition } of held) {
        const cursor = yield* checkpoints.get(subscription.name, partition)
        const next = yield* store.readAll(cursor, 1, Subscription.logFilter(subscription, partition))
        if (next.length > 0) return true
      }
    }
    return false
  })

export const layer = (
  subscriptions: ReadonlyArray<Subscription.Any>,
  options: { readonly timeout?: Duration.DurationInput } = {}
): Layer.Layer<never, never, Relay.Relay | Checkpoints.Checkpoints | EventStore.EventStore> =>
  Layer.scopedDiscard(Effect.addFinalizer(() =>
    hasPending(subscriptions).pipe(
      Effect.repeat({ while: (pending) => pending, schedule: Schedule.spaced("20 millis") }),
      // a finalizer runs uninterruptibly, and a timeout cannot interrupt what is uninterruptible:
      // without this, the stop waits for the deliveries however long they take
      Effect.interruptible,
      Effect.timeout(options.timeout ?? "3 seconds"),
      Effect.matchCauseEffect({
        onSuccess: () => Effect.log("relay: deliveries finished"),
        onFailure: (cause) => Effect.logWarning("relay: stopping with deliveries left for the next start", cause)
      })
    )
  ))
