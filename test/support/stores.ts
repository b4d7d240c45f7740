/**
 * The stores the library's ports name, for tests that read them directly.
 */
import { Effect } from "effect"
import {
  Checkpoints,
  DeadLetters,
  Deadlines,
  EventStore,
  Inbox,
  type Relay,
  Subscription,
  SubscriptionRegistry
} from "effect-ddd"

/** Every store an adapter provides. */
export type Stores = EventStore.EventStore | Relay.Stores

/** The delivery stores, by the names tests use for them. */
export const delivery = Effect.all({
  checkpoints: Checkpoints.Checkpoints,
  deadLetters: DeadLetters.DeadLetters,
  deadlines: Deadlines.Deadlines,
  inbox: Inbox.Inbox,
  registry: SubscriptionRegistry.SubscriptionRegistry
})

/**
 * Where every partition of the subscriptions stands (their checkpoints, as one string, to compare
 * two readings); fails with the first partition that has an event left to deliver, such as one
 * whose delivery is being retried (its checkpoint stays before it until it succeeds).
 */
export const delivered = (subscriptions: ReadonlyArray<Subscription.Any>) =>
  Effect.gen(function*() {
    const store = yield* EventStore.EventStore
    const checkpoints = yield* Checkpoints.Checkpoints
    const cursors: Array<string> = []
    for (const subscription of subscriptions) {
      for (let partition = 0; partition < subscription.partitions; partition++) {
        const cursor = yield* checkpoints.get(subscription.name, partition)
        const next = yield* store.readAll(cursor, 1, Subscription.logFilter(subscription, partition))
        if (next.length > 0) {
          return yield* Effect.fail(
            `${subscription.name}/${partition} has events to deliver (next: position ${next[0]!.position})`
          )
        }
        cursors.push(`${subscription.name}/${partition}@${cursor.commitOrder}:${cursor.position}`)
      }
    }
    return cursors.join(" ")
  })
