/**
 * Delivery scenarios every store must support, run against memory, SQLite and PostgreSQL:
 * `suite("memory", MemoryEventStore.layer)`.
 */
import { describe, expect, layer } from "@effect/vitest"
import { Clock, Deferred, Duration, Effect, Either, Fiber, Layer, Option, Schedule } from "effect"
import { Checkpoints, CommandHandler, type DomainEvent, EventStore, Relay, Subscription } from "effect-ddd"
import { randomUUID } from "node:crypto"
import { Inventory } from "../../examples/http-server/Domain/Inventory.js"
import { Order, OrderId, Sku } from "../../examples/http-server/Domain/Order.js"
import { delivery, type Stores } from "../support/stores.js"

const fresh = (prefix: string) => `${prefix}-${randomUUID()}`

/**
 * Poll until `check` passes (it fails until then). `timeout` only bounds a hang: it is generous,
 * never what a passing test waits for.
 */
export const eventually = <A, E, R>(check: Effect.Effect<A, E, R>, timeout: Duration.DurationInput = "30 seconds") =>
  Effect.retry(check, Schedule.spaced("20 millis").pipe(Schedule.upTo(timeout)))

const expectEffect = (f: () => void) => Effect.try({ try: f, catch: (error) => error })

/** Reserve the single line of a placed order, or reject the order when stock is short. */
const reserveStock = (name: string) =>
  Subscription.make({
    name,
    events: [Subscription.on(Order, "OrderPlaced")],
    partitions: 2,
    handle: (event) =>
      Effect.forEach(event.lines, (line) =>
        CommandHandler.execute(Inventory, line.sku, "reserve", { orderId: event.orderId, quantity: line.quantity })
          .pipe(
            Effect.catchTag("InsufficientStock", () =>
              CommandHandler.execute(Order, event.orderId, "reject", { reason: "insufficient stock" }))
          ), { discard: true })
  })

/** Confirm an order once its stock is reserved. */
const confirmOrder = (name: string) =>
  Subscription.make({
    name,
    events: [Subscription.on(Inventory, "StockReserved")],
    handle: (event) =>
      CommandHandler.execute(Order, event.orderId, "confirm", {}).pipe(
        Effect.catchTag("OrderNotPending", () => Effect.void)
      )
  })

const fastRetry = Schedule.spaced("10 millis").pipe(Schedule.intersect(Schedule.recurs(3)))

/** Run `use` while a relay delivers `subscriptions`. */
const withRelay = <S extends Subscription.Any, A, E, R>(
  subscriptions: ReadonlyArray<S>,
  use: Effect.Effect<A, E, R>,
  options: { readonly leaseTtl?: Duration.DurationInput; readonly owner?: string } = {}
): Effect.Effect<
  A,
  E,
  Exclude<R, Relay.Relay> | Stores | Subscription.Requirements<S>
> =>
  Effect.scoped(Effect.flatMap(
    Layer.build(
      Relay.layer({
        subscriptions,
        pollInterval: "50 millis",
        leaseTtl: options.leaseTtl ?? "2 seconds",
        ...(options.owner === undefined ? {} : { owner: options.owner })
      })
    ),
    (context) => Effect.provide(use, context)
  ))

/** Wait until the relay holds a live lease on each of the subscription's partitions. */
export const holding = (subscription: Subscription.Any) =>
  eventually(Effect.gen(function*() {
    const leases = yield* Effect.flatMap(
      Checkpoints.Checkpoints,
      (checkpoints) => checkpoints.leases(subscription.name)
    )
    const now = yield* Clock.currentTimeMillis
    yield* expectEffect(() => expect(leases.filter((l) => l.expiresAt > now)).toHaveLength(subscription.partitions))
  }))

/**
 * Wait until every lease of `subscription` has expired: a paused relay's workers leave their
 * delivery loop and stop renewing, so then no delivery is in progress (and none starts until
 * resume).
 */
export const pausedFor = (subscription: string) =>
  eventually(Effect.gen(function*() {
    const leases = yield* Effect.flatMap(Checkpoints.Checkpoints, (checkpoints) => checkpoints.leases(subscription))
    const now = yield* Clock.currentTimeMillis
    yield* expectEffect(() => expect(leases.filter((l) => l.expiresAt > now)).toEqual([]))
  }))

const placeOrder = (customerId: string, sku: Sku, quantity: number) =>
  Effect.flatMap(
    Effect.sync(() => OrderId.make(fresh("order"))),
    (orderId) =>
      Effect.as(CommandHandler.execute(Order, orderId, "place", { customerId, lines: [{ sku, quantity }] }), orderId)
  )

export const suite = <E>(name: string, store: Layer.Layer<Stores, E>) =>
  layer(Layer.provideMerge(CommandHandler.layer(), store), { timeout: 120_000, excludeTestServices: true })(
    `Relay: ${name}`,
    (it) => {
      describe("delivery", () => {
        it.effect("the seed scenario: orders are confirmed or rejected, eventually", () =>
          Effect.gen(function*() {
            const sku = Sku.make(fresh("sku"))
            yield* CommandHandler.execute(Inventory, sku, "restock", { quantity: 3 })
            // two orders of 2 against a stock of 3: whichever is reserved first is confirmed
            const orders = [yield* placeOrder("c-1", sku, 2), yield* placeOrder("c-2", sku, 2)]
            yield* withRelay(
              [reserveStock(fresh("reserve")), confirmOrder(fresh("confirm"))],
              eventually(Effect.gen(function*() {
                const states = yield* Effect.forEach(
                  orders,
                  (id) => Effect.map(CommandHandler.load(Order, id), (o) => o.state)
                )
                yield* expectEffect(() => {
                  expect(states.map((s) => s.status).sort()).toEqual(["confirmed", "rejected"])
                  expect(states.find((s) => s.status === "rejected")?.reason).toBe("insufficient stock")
                })
              }))
            )
            const stock = yield* CommandHandler.load(Inventory, sku)
            expect([stock.state.available, stock.state.reserved]).toEqual([1, 2])
          }))

        it.effect("a handler failing twice then succeeding: retried, its effect applied once", () =>
          Effect.gen(function*() {
            const sku = Sku.make(fresh("sku"))
            let calls = 0
            const flaky = Subscription.make({
              name: fresh("flaky"),
              events: [Subscription.on(Inventory, "StockRestocked")],
              retry: fastRetry,
              partitions: 1,
              handle: (event, envelope) =>
                Effect.gen(function*() {
                  if (envelope.aggregateId !== sku) return
                  calls++
                  // the effect: a command in the same database, committed with the checkpoint
                  yield* CommandHandler.execute(Inventory, Sku.make(`${sku}-mirror`), "restock", {
                    quantity: event.quantity
                  })
                  if (calls <= 2) return yield* Effect.fail("transient failure")
                })
            })
            yield* CommandHandler.execute(Inventory, sku, "restock", { quantity: 7 })
            yield* withRelay(
              [flaky],
              eventually(Effect.gen(function*() {
                const mirror = yield* CommandHandler.load(Inventory, Sku.make(`${sku}-mirror`))
                yield* expectEffect(() => expect(calls).toBe(3))
                yield* expectEffect(() => expect([mirror.version, mirror.state.available]).toEqual([1, 7]))
              }))
            )
          }))

        it.effect("a handler that always fails: dead letter, the aggregate parked, others delivered, redrive in order", () =>
          Effect.gen(function*() {
            const broken = Sku.make(fresh("broken"))
            const healthy = Sku.make(fresh("healthy"))
            const delivered: Array<string> = []
            let fixed = false
            const subscription = Subscription.make({
              name: fresh("fragile"),
              events: [Subscription.on(Inventory, "StockRestocked")],
              retry: fastRetry,
              partitions: 1,
              handle: (event, envelope) =>
                envelope.aggregateId === broken && event.quantity === 1 && !fixed
                  ? Effect.fail(new Error("cannot handle quantity 1"))
                  : Effect.sync(() => {
                    if (envelope.aggregateId === broken || envelope.aggregateId === healthy) {
                      delivered.push(`${envelope.aggregateId === broken ? "broken" : "healthy"}:${event.quantity}`)
                    }
                  })
            })
            yield* withRelay(
              [subscription],
              Effect.gen(function*() {
                const relay = yield* Relay.Relay
                yield* CommandHandler.execute(Inventory, broken, "restock", { quantity: 1 })
                yield* CommandHandler.execute(Inventory, broken, "restock", { quantity: 2 })
                yield* CommandHandler.execute(Inventory, healthy, "restock", { quantity: 5 })
                yield* CommandHandler.execute(Inventory, broken, "restock", { quantity: 3 })
                const letters = yield* eventually(Effect.gen(function*() {
                  const letters = yield* relay.deadLetters({ subscription: subscription.name })
                  yield* expectEffect(() => {
                    expect(letters.map((l) => [l.kind, l.version])).toEqual([["failed", 1], ["parked", 2], [
                      "parked",
                      3
                    ]])
                    expect(delivered).toEqual(["healthy:5"])
                  })
                  return letters
                }))
                expect(letters[0]!.attempts).toBe(4)
                expect(letters[0]!.error).toContain("cannot handle quantity 1")
                expect(letters.every((l) => l.aggregateId === broken)).toBe(true)
                const byAggregate = yield* relay.deadLetters({ aggregateType: "Inventory", aggregateId: broken })
                expect(byAggregate.length).toBe(3)
                // still parked: a new event of the broken aggregate waits too
                yield* CommandHandler.execute(Inventory, broken, "restock", { quantity: 4 })
                yield* eventually(
                  Effect.flatMap(
                    relay.deadLetters({ subscription: subscription.name }),
                    (l) => expectEffect(() => expect(l.length).toBe(4))
                  )
                )
                fixed = true
                const { events, remaining } = yield* relay.redrive(letters[0]!.id)
                expect(remaining).toEqual([])
                expect(events.map((e) => [e.version, e.outcome])).toEqual([
                  [1, "delivered"],
                  [2, "delivered"],
                  [3, "delivered"],
                  [4, "delivered"]
                ])
                expect(delivered).toEqual(["healthy:5", "broken:1", "broken:2", "broken:3", "broken:4"])
                // un-parked: later events flow again
                yield* CommandHandler.execute(Inventory, broken, "restock", { quantity: 5 })
                yield* eventually(expectEffect(() => expect(delivered.at(-1)).toBe("broken:5")))
              })
            )
          }))

        it.effect("a retry re-runs the failing event alone: the batch's other events are not redone per retry", () =>
          Effect.gen(function*() {
            const skus = ["a", "b", "bad", "c", "d"].map((k) => Sku.make(fresh(k)))
            const bad = skus[2]!
            const calls = new Map<string, number>()
            let failuresLeft = 3
            const subscription = Subscription.make({
              name: fresh("batched"),
              events: [Subscription.on(Inventory, "StockRestocked")],
              retry: fastRetry,
              partitions: 1,
              handle: (_, envelope) =>
                Effect.suspend(() => {
                  if (!skus.includes(envelope.aggregateId as Sku)) return Effect.void
                  calls.set(envelope.aggregateId, (calls.get(envelope.aggregateId) ?? 0) + 1)
                  return envelope.aggregateId === bad && failuresLeft-- > 0
                    ? Effect.fail(new Error("not yet"))
                    : Effect.void
                })
            })
            // committed before the relay starts: one page, one batch
            for (const sku of skus) yield* CommandHandler.execute(Inventory, sku, "restock", { quantity: 1 })
            yield* withRelay(
              [subscription],
              eventually(expectEffect(() => expect(skus.map((sku) => calls.get(sku) ?? 0)).toEqual([2, 2, 4, 1, 1])))
            )
            // the events before the failing one: once in the batch rolled back, once on their own; the
            // failing one: 4 attempts (3 failures); those after it: once
            expect(skus.map((sku) => calls.get(sku))).toEqual([2, 2, 4, 1, 1])
          }))

        it.effect("a redrive runs the retry schedule again: a handler that fails a few more times is delivered by one redrive", () =>
          Effect.gen(function*() {
            const sku = Sku.make(fresh("sku"))
            // fastRetry makes 4 attempts: the first delivery fails them all, the redrive's third succeeds
            let failuresLeft = 6
            let calls = 0
            const subscription = Subscription.make({
              name: fresh("recovering"),
              events: [Subscription.on(Inventory, "StockRestocked")],
              retry: fastRetry,
              partitions: 1,
              handle: (_, envelope) =>
                envelope.aggregateId !== sku ? Effect.void : Effect.suspend(() => {
                  calls++
                  return failuresLeft-- > 0 ? Effect.fail(new Error(`not yet (${failuresLeft})`)) : Effect.void
                })
            })
            yield* withRelay(
              [subscription],
              Effect.gen(function*() {
                const relay = yield* Relay.Relay
                yield* CommandHandler.execute(Inventory, sku, "restock", { quantity: 1 })
                yield* CommandHandler.execute(Inventory, sku, "restock", { quantity: 2 })
                const [head] = yield* eventually(
                  Effect.flatMap(
                    relay.deadLetters({ subscription: subscription.name }),
                    (l) => Effect.as(expectEffect(() => expect(l.map((d) => d.kind)).toEqual(["failed", "parked"])), l)
                  )
                )
                expect([head!.attempts, calls]).toEqual([4, 4])
                const result = yield* relay.redrive(head!.id)
                expect(result.remaining).toEqual([])
                expect(result.events.map((e) => [e.version, e.outcome])).toEqual([[1, "delivered"], [2, "delivered"]])
                // 3 attempts for the first event (2 more failures), 1 for the one parked behind it
                expect(calls).toBe(4 + 3 + 1)
              })
            )
          }))

        it.effect("a redrive that fails again keeps the sequence parked; discard drops a dead letter", () =>
          Effect.gen(function*() {
            const sku = Sku.make(fresh("sku"))
            const subscription = Subscription.make({
              name: fresh("always-failing"),
              events: [Subscription.on(Inventory, "StockRestocked")],
              retry: Schedule.recurs(0),
              partitions: 1,
              handle: (_, envelope) => envelope.aggregateId === sku ? Effect.die("boom") : Effect.void
            })
            yield* withRelay(
              [subscription],
              Effect.gen(function*() {
                const relay = yield* Relay.Relay
                yield* CommandHandler.execute(Inventory, sku, "restock", { quantity: 1 })
                yield* CommandHandler.execute(Inventory, sku, "restock", { quantity: 2 })
                const [head] = yield* eventually(
                  Effect.flatMap(
                    relay.deadLetters({ subscription: subscription.name }),
                    (l) => Effect.as(expectEffect(() => expect(l.length).toBe(2)), l)
                  )
                )
                const { events, remaining } = yield* relay.redrive(head!.id)
                expect(remaining.map((l) => [l.kind, l.version, l.attempts, l.status])).toEqual([
                  ["failed", 1, 2, "open"],
                  ["parked", 2, 0, "open"]
                ])
                expect(events.map((e) => [e.version, e.outcome, e.outcome === "failed" ? e.attempts : 0])).toEqual([
                  [1, "failed", 2],
                  [2, "parked", 0]
                ])
                expect(events[0]).toMatchObject({ outcome: "failed", error: expect.stringContaining("boom") })
                yield* relay.discard(head!.id)
                expect((yield* relay.deadLetters({ subscription: subscription.name })).map((l) => l.version)).toEqual([
                  2
                ])
                const missing = yield* Effect.flip(relay.discard("nope"))
                expect(missing._tag).toBe("DeadLetterNotFound")
              })
            )
          }))

        it.effect("a poison payload is dead-lettered at once, never retried", () =>
          Effect.gen(function*() {
            const store = yield* EventStore.EventStore
            const sku = Sku.make(fresh("sku"))
            let calls = 0
            const subscription = Subscription.make({
              name: fresh("poisoned"),
              events: [Subscription.on(Inventory)],
              partitions: 1,
              handle: (_, envelope) => Effect.sync(() => envelope.aggregateId === sku && calls++)
            })
            const poison: DomainEvent.Unsaved = {
              eventId: randomUUID(),
              aggregateType: "Inventory",
              aggregateId: sku,
              version: 1,
              eventType: "StockRestocked",
              schemaVersion: 1,
              payload: { _tag: "StockRestocked", sku, quantity: "lots" },
              occurredAt: 0,
              metadata: {}
            }
            yield* store.append({ aggregateType: "Inventory", aggregateId: sku, expectedVersion: 0, events: [poison] })
            yield* withRelay(
              [subscription],
              Effect.gen(function*() {
                const relay = yield* Relay.Relay
                const [letter] = yield* eventually(
                  Effect.flatMap(relay.deadLetters({ subscription: subscription.name }), (l) =>
                    Effect.as(expectEffect(() => expect(l.length).toBe(1)), l))
                )
                expect(letter).toMatchObject({ kind: "poison", attempts: 1, eventId: poison.eventId })
                expect(letter!.error).toContain("quantity")
                expect(calls).toBe(0)
              })
            )
          }))
      })

      describe("faults", () => {
        it.effect("events committed while no relay runs are delivered when it starts", () =>
          Effect.gen(function*() {
            const sku = Sku.make(fresh("sku"))
            yield* CommandHandler.execute(Inventory, sku, "restock", { quantity: 1 })
            const orders = yield* Effect.forEach([1, 2, 3], () => placeOrder("c", sku, 1))
            yield* withRelay(
              [reserveStock(fresh("late")), confirmOrder(fresh("late-confirm"))],
              eventually(Effect.gen(function*() {
                const statuses = yield* Effect.forEach(
                  orders,
                  (id) => Effect.map(CommandHandler.load(Order, id), (o) => o.state.status)
                )
                yield* expectEffect(() => expect([...statuses].sort()).toEqual(["confirmed", "rejected", "rejected"]))
              }))
            )
          }))

        it.effect("commands of a handler wake the subscriptions to their events once the delivery commits, not at a poll", () =>
          Effect.gen(function*() {
            const sku = Sku.make(fresh("sku"))
            yield* CommandHandler.execute(Inventory, sku, "restock", { quantity: 2 })
            // the next poll is beyond the wait below: only wake-ups move the orders along
            const confirmed = (orderId: OrderId) =>
              eventually(
                Effect.flatMap(
                  CommandHandler.load(Order, orderId),
                  (order) => expectEffect(() => expect(order.state.status).toBe("confirmed"))
                ),
                "30 seconds"
              )
            yield* Effect.scoped(Effect.gen(function*() {
              yield* Layer.build(Relay.layer({
                subscriptions: [reserveStock(fresh("woken")), confirmOrder(fresh("woken-confirm"))],
                pollInterval: "10 minutes"
              }))
              // a first order takes both subscriptions past their first read of the log: once it
              // is confirmed, both wait for a wake-up
              yield* confirmed(yield* placeOrder("c", sku, 1))
              // the reservation made while delivering the second must wake the other
              yield* confirmed(yield* placeOrder("c", sku, 1))
            }))
          }))

        it.effect("a subscription to rare events moves its checkpoint past the others while idle, and misses none", () =>
          Effect.gen(function*() {
            const { checkpoints } = yield* delivery
            const store = yield* EventStore.EventStore
            const name = fresh("rare")
            const cancelled: Array<string> = []
            const rare = Subscription.make({
              name,
              events: [Subscription.on(Order, "OrderCancelled")],
              handle: (event) => Effect.sync(() => void cancelled.push(event.orderId))
            })
            const sku = Sku.make(fresh("sku"))
            yield* withRelay(
              [rare],
              Effect.gen(function*() {
                // plenty of events it does not handle: its checkpoint follows them (at most a poll later)
                for (let i = 0; i < 20; i++) yield* CommandHandler.execute(Inventory, sku, "restock", { quantity: 1 })
                const [last] = yield* store.readStream(Inventory.name, sku, 19)
                yield* eventually(
                  Effect.flatMap(
                    checkpoints.get(name, 0),
                    (checkpoint) =>
                      expectEffect(() => expect(checkpoint.position).toBeGreaterThanOrEqual(last!.position))
                  )
                )
                // and the next one it handles is delivered
                const order = yield* placeOrder("c", sku, 1)
                yield* CommandHandler.execute(Order, order, "cancel", {})
                yield* eventually(expectEffect(() => expect(cancelled).toEqual([order])))
              })
            )
          }))

        it.effect("a delivery interrupted after its effect, before its commit, is applied once after restart", () =>
          Effect.gen(function*() {
            const sku = Sku.make(fresh("sku"))
            const mirror = Sku.make(`${sku}-mirror`)
            const name = fresh("interrupted")
            let hang = true
            const applied = yield* Deferred.make<void>()
            const subscription = Subscription.make({
              name,
              events: [Subscription.on(Inventory, "StockRestocked")],
              partitions: 1,
              handle: (event, envelope) =>
                envelope.aggregateId !== sku ? Effect.void : Effect.zipRight(
                  CommandHandler.execute(Inventory, mirror, "restock", { quantity: event.quantity }),
                  hang ? Effect.zipRight(Deferred.succeed(applied, undefined), Effect.never) : Effect.void
                )
            })
            const mirrored = (expected: [version: number, available: number]) =>
              eventually(Effect.flatMap(
                CommandHandler.load(Inventory, mirror),
                (m) => expectEffect(() => expect([m.version, m.state.available]).toEqual(expected))
              ))
            yield* CommandHandler.execute(Inventory, sku, "restock", { quantity: 4 })
            // the first relay applies the effect, then hangs before committing; its scope closes
            const first = yield* Effect.fork(withRelay([subscription], Effect.never))
            yield* Deferred.await(applied)
            yield* Fiber.interrupt(first)
            expect((yield* CommandHandler.load(Inventory, mirror)).version).toBe(0)
            hang = false
            yield* withRelay(
              [subscription],
              Effect.gen(function*() {
                yield* mirrored([1, 4])
                // and it stays applied once: a later event of the partition is delivered after it,
                // and the mirror holds the two (a second application would make it [3, 9])
                yield* CommandHandler.execute(Inventory, sku, "restock", { quantity: 1 })
                yield* mirrored([2, 5])
              })
            )
            yield* mirrored([2, 5])
          }))

        it.effect("a retry schedule spanning several lease TTLs keeps the lease: no other owner takes it, no work redone", () =>
          Effect.gen(function*() {
            const { checkpoints } = yield* delivery
            const sku = Sku.make(fresh("sku"))
            const mirror = Sku.make(`${sku}-mirror`)
            let calls = 0
            // 5 failures 600 ms apart: 3 s of retries against a 1 s lease, renewed every third of it
            const slow = Subscription.make({
              name: fresh("slow-retry"),
              events: [Subscription.on(Inventory, "StockRestocked")],
              retry: Schedule.spaced("600 millis").pipe(Schedule.intersect(Schedule.recurs(10))),
              partitions: 1,
              handle: (event, envelope) =>
                envelope.aggregateId !== sku ? Effect.void : Effect.gen(function*() {
                  calls++
                  yield* CommandHandler.execute(Inventory, mirror, "restock", { quantity: event.quantity })
                  if (calls <= 5) return yield* Effect.fail("not yet")
                })
            })
            const first = fresh("relay-a")
            const lease = { leaseTtl: Duration.seconds(1) }
            yield* CommandHandler.execute(Inventory, sku, "restock", { quantity: 2 })
            yield* withRelay(
              [slow],
              Effect.gen(function*() {
                yield* eventually(
                  Effect.flatMap(
                    checkpoints.leases(slow.name),
                    (leases) => expectEffect(() => expect(leases.map((l) => l.owner)).toEqual([first]))
                  )
                )
                // a second relay competes for the partition from the first retries to the end
                yield* withRelay(
                  [slow],
                  eventually(
                    Effect.flatMap(
                      CommandHandler.load(Inventory, mirror),
                      (m) => expectEffect(() => expect([m.version, m.state.available]).toEqual([1, 2]))
                    )
                  ),
                  { ...lease, owner: fresh("relay-b") }
                )
                const [held] = yield* checkpoints.leases(slow.name)
                expect([held?.owner, held?.token]).toEqual([first, 1])
              }),
              { ...lease, owner: first }
            )
            expect(calls).toBe(6)
            expect((yield* CommandHandler.load(Inventory, mirror)).version).toBe(1)
          }))

        it.effect("a worker whose lease is taken over stops delivering, even between retries", () =>
          Effect.gen(function*() {
            const store = yield* EventStore.EventStore
            const { checkpoints } = yield* delivery
            const sku = Sku.make(fresh("sku"))
            let calls = 0
            const failing = Subscription.make({
              name: fresh("taken-over"),
              events: [Subscription.on(Inventory, "StockRestocked")],
              retry: Schedule.spaced("20 millis"),
              partitions: 1,
              handle: (_, envelope) =>
                envelope.aggregateId !== sku ? Effect.void : Effect.suspend(() => {
                  calls++
                  return Effect.fail("always")
                })
            })
            const owner = fresh("relay")
            // the lease requests of this relay that were refused: its heartbeat's renewal once the
            // lease is taken, then the worker's own requests, made only once it stopped delivering
            let refused = 0
            const watched: Checkpoints.Service = {
              ...checkpoints,
              acquireLease: (subscription, partition, by, now, ttl) =>
                Effect.tap(
                  checkpoints.acquireLease(subscription, partition, by, now, ttl),
                  (lease) =>
                    Effect.sync(() => {
                      if (subscription === failing.name && by === owner && Option.isNone(lease)) refused++
                    })
                )
            }
            yield* CommandHandler.execute(Inventory, sku, "restock", { quantity: 1 })
            yield* withRelay(
              [failing],
              Effect.gen(function*() {
                yield* eventually(expectEffect(() => expect(calls).toBeGreaterThan(3)))
                // another process takes the lease over (as if this one had let it expire)
                const stolen = yield* store.withTransaction(Effect.zipRight(
                  checkpoints.releaseLease(failing.name, 0, owner),
                  Effect.flatMap(
                    Clock.currentTimeMillis,
                    (now) => checkpoints.acquireLease(failing.name, 0, fresh("intruder"), now, 60_000)
                  )
                ))
                expect(Option.isSome(stolen)).toBe(true)
                // the heartbeat finds out and the worker stops: it asks for the lease again (refused)
                yield* eventually(expectEffect(() => expect(refused).toBeGreaterThanOrEqual(2)))
                const stoppedAt = calls
                // and asks once more, having delivered nothing in between
                yield* eventually(expectEffect(() => expect(refused).toBeGreaterThanOrEqual(3)))
                expect(calls).toBe(stoppedAt)
                // and its event was never checkpointed
                const [event] = yield* store.readStream("Inventory", sku, 0)
                expect((yield* checkpoints.get(failing.name, 0)).position).toBeLessThan(event!.position)
              }),
              { leaseTtl: "300 millis", owner }
            ).pipe(Effect.provideService(Checkpoints.Checkpoints, watched))
          }))

        it.effect("pause holds delivery without moving checkpoints; resume catches up", () =>
          Effect.gen(function*() {
            const sku = Sku.make(fresh("sku"))
            const seen: Array<number> = []
            const subscription = Subscription.make({
              name: fresh("pausable"),
              events: [Subscription.on(Inventory, "StockRestocked")],
              handle: (event, envelope) => Effect.sync(() => envelope.aggregateId === sku && seen.push(event.quantity))
            })
            yield* withRelay(
              [subscription],
              Effect.gen(function*() {
                const relay = yield* Relay.Relay
                const checkpoints = yield* Checkpoints.Checkpoints
                yield* holding(subscription)
                yield* relay.pause
                // paused workers leave their delivery loop and stop renewing their leases: once
                // every lease has expired, no delivery is in progress, and none starts until resume
                yield* pausedFor(subscription.name)
                const checkpoint = yield* checkpoints.get(subscription.name, 0)
                yield* CommandHandler.execute(Inventory, sku, "restock", { quantity: 1 })
                expect(seen).toEqual([])
                expect(yield* checkpoints.get(subscription.name, 0)).toEqual(checkpoint)
                yield* relay.resume
                yield* eventually(expectEffect(() => expect(seen).toEqual([1])))
              }),
              { leaseTtl: "600 millis" }
            )
          }))
      })

      describe("operators", () => {
        it.effect("the relay records the subscriptions it runs", () =>
          Effect.gen(function*() {
            const { registry } = yield* delivery
            const subscription = Subscription.projection({
              name: fresh("recorded"),
              events: [Subscription.on(Order, "OrderPlaced", "OrderCancelled"), Subscription.on(Inventory)],
              partitions: 3,
              handle: () => Effect.void
            })
            const recorded = yield* withRelay(
              [subscription],
              eventually(Effect.gen(function*() {
                const found = (yield* registry.list).find((s) => s.name === subscription.name)
                yield* expectEffect(() => expect(found).toBeDefined())
                return found!
              }))
            )
            expect(recorded).toMatchObject({
              kind: "projection",
              partitions: 3,
              sources: [{ aggregateType: "Order", eventTypes: ["OrderPlaced", "OrderCancelled"] }, {
                aggregateType: "Inventory",
                eventTypes: []
              }]
            })
          }))

        it.effect("checkpoints reset while the relay runs: it delivers again from there, then goes on", () =>
          Effect.gen(function*() {
            const { checkpoints } = yield* delivery
            const store = yield* EventStore.EventStore
            const sku = Sku.make(fresh("sku"))
            const seen: Array<number> = []
            const subscription = Subscription.projection({
              name: fresh("replayed"),
              events: [Subscription.on(Inventory, "StockRestocked")],
              partitions: 2,
              handle: (event, envelope) => Effect.sync(() => envelope.aggregateId === sku && seen.push(event.quantity))
            })
            yield* withRelay(
              [subscription],
              Effect.gen(function*() {
                for (const quantity of [1, 2, 3]) yield* CommandHandler.execute(Inventory, sku, "restock", { quantity })
                yield* eventually(expectEffect(() => expect(seen).toEqual([1, 2, 3])))
                yield* store.withTransaction(
                  Effect.forEach(
                    [0, 1],
                    (partition) => checkpoints.reset(subscription.name, partition, EventStore.logStart),
                    { discard: true }
                  )
                )
                yield* eventually(expectEffect(() => expect(seen).toEqual([1, 2, 3, 1, 2, 3])))
                yield* CommandHandler.execute(Inventory, sku, "restock", { quantity: 4 })
                yield* eventually(expectEffect(() => expect(seen).toEqual([1, 2, 3, 1, 2, 3, 4])))
                // nothing delivered a third time: the partition's next event comes right after
                yield* CommandHandler.execute(Inventory, sku, "restock", { quantity: 5 })
                yield* eventually(expectEffect(() => expect(seen.at(-1)).toBe(5)))
                expect(seen).toEqual([1, 2, 3, 1, 2, 3, 4, 5])
              })
            )
          }))
      })

      it.effect("sync subscriptions run in the command's transaction; their failure rolls it back", () =>
        Effect.gen(function*() {
          const sku = Sku.make(fresh("sku"))
          const audit = Sku.make(`${sku}-audit`)
          const sync = Subscription.make({
            name: "audit",
            mode: "sync",
            events: [Subscription.on(Inventory, "StockRestocked")],
            handle: (event, envelope): Effect.Effect<void, unknown, CommandHandler.CommandHandler> =>
              envelope.aggregateId !== sku
                ? Effect.void
                : event.quantity > 100
                ? Effect.fail("too much" as const)
                : Effect.asVoid(CommandHandler.execute(Inventory, audit, "restock", { quantity: event.quantity }))
          })
          const store = yield* EventStore.EventStore
          const handler = yield* CommandHandler.make({ subscriptions: [sync] }).pipe(
            Effect.provideService(EventStore.EventStore, store),
            Effect.provideService(CommandHandler.CommandHandler, yield* CommandHandler.CommandHandler)
          )
          yield* handler.execute(Inventory, sku, "restock", { quantity: 5 })
          expect((yield* CommandHandler.load(Inventory, audit)).state.available).toBe(5)
          const failed = yield* Effect.either(handler.execute(Inventory, sku, "restock", { quantity: 500 }))
          expect(Either.isLeft(failed) && failed.left._tag).toBe("SubscriptionFailed")
          expect((yield* CommandHandler.load(Inventory, sku)).version).toBe(1)
          expect((yield* CommandHandler.load(Inventory, audit)).version).toBe(1)
        }))
    }
  )
