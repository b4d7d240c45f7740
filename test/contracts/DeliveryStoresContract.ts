/**
 * Behaviour every adapter of the delivery stores (checkpoints and leases, dead letters, the inbox,
 * deadlines, the registry of subscriptions) must have, with the EventStore whose transactions they
 * join: `suite("SQLite", SqlEventStore.layer().pipe(Layer.provide(client)))`.
 *
 * Tests share one store per suite, so each uses fresh subscription, consumer and aggregate names.
 */
import { describe, expect, layer } from "@effect/vitest"
import type { Layer } from "effect"
import { Deferred, Effect, Exit, Fiber, Option } from "effect"
import { Checkpoints, DeadLetters, type Deadlines, EventStore, type SubscriptionRegistry } from "effect-ddd"
import { randomUUID } from "node:crypto"
import { delivery, type Stores } from "../support/stores.js"

const fresh = (prefix: string) => `${prefix}-${randomUUID()}`

const deadLetter = (overrides: Partial<DeadLetters.DeadLetter>): DeadLetters.DeadLetter => ({
  id: randomUUID(),
  subscription: "s",
  partition: 0,
  kind: "failed",
  eventId: randomUUID(),
  position: 1,
  aggregateType: "T",
  aggregateId: "a",
  version: 1,
  eventType: "Tested",
  error: "boom",
  attempts: 3,
  firstFailedAt: 1_700_000_000_000,
  lastFailedAt: 1_700_000_000_500,
  status: "open",
  ...overrides
})

export const suite = <E>(name: string, stores: Layer.Layer<Stores, E>) =>
  layer(stores, { timeout: 120_000, excludeTestServices: true })(`Delivery stores contract: ${name}`, (it) => {
    describe("checkpoints and leases", () => {
      it.effect("a partition never delivered starts at the beginning of the log", () =>
        Effect.gen(function*() {
          const { checkpoints } = yield* delivery
          expect(yield* checkpoints.get(fresh("s"), 0)).toEqual(EventStore.logStart)
        }))

      it.effect("leases: acquire, renew, refuse while held, steal after expiry, release", () =>
        Effect.gen(function*() {
          const { checkpoints } = yield* delivery
          const sub = fresh("s")
          const lease = (owner: string, token: number, expiresAt: number, partition = 0): Checkpoints.Lease => ({
            subscription: sub,
            partition,
            owner,
            token,
            expiresAt
          })

          expect(yield* checkpoints.acquireLease(sub, 0, "a", 1_000, 100)).toEqual(Option.some(lease("a", 1, 1_100)))
          // held by a: refused to b, renewed for a with the same token
          expect(yield* checkpoints.acquireLease(sub, 0, "b", 1_050, 100)).toEqual(Option.none())
          expect(yield* checkpoints.acquireLease(sub, 0, "a", 1_050, 100)).toEqual(Option.some(lease("a", 1, 1_150)))
          // expired (expires_at <= now): b takes it, the token moves on
          expect(yield* checkpoints.acquireLease(sub, 0, "b", 1_150, 100)).toEqual(Option.some(lease("b", 2, 1_250)))
          expect(yield* checkpoints.acquireLease(sub, 0, "a", 1_160, 100)).toEqual(Option.none())
          // another partition is leased on its own
          expect(yield* checkpoints.acquireLease(sub, 1, "a", 1_160, 100)).toEqual(Option.some(lease("a", 1, 1_260, 1)))
          expect(yield* checkpoints.leases(sub)).toEqual([lease("b", 2, 1_250), lease("a", 1, 1_260, 1)])

          // only the owner releases; a released lease keeps its token and is free at once
          yield* checkpoints.releaseLease(sub, 0, "a")
          expect((yield* checkpoints.leases(sub))[0]).toEqual(lease("b", 2, 1_250))
          yield* checkpoints.releaseLease(sub, 0, "b")
          expect((yield* checkpoints.leases(sub))[0]).toEqual(lease("b", 2, 0))
          expect(yield* checkpoints.acquireLease(sub, 0, "c", 1_170, 100)).toEqual(Option.some(lease("c", 3, 1_270)))

          // without a subscription: every lease, ordered by subscription then partition
          const all = (yield* checkpoints.leases()).filter((l) => l.subscription === sub)
          expect(all.map((l) => [l.partition, l.owner, l.token])).toEqual([[0, "c", 3], [1, "a", 1]])
        }))

      it.effect("saveCheckpoint with the current token moves the checkpoint", () =>
        Effect.gen(function*() {
          const { checkpoints } = yield* delivery
          const sub = fresh("s")
          const { token } = Option.getOrThrow(yield* checkpoints.acquireLease(sub, 0, "a", 1_000, 100))
          yield* checkpoints.save(sub, 0, { commitOrder: 12, position: 34 }, token)
          expect(yield* checkpoints.get(sub, 0)).toEqual({ commitOrder: 12, position: 34 })
          yield* checkpoints.save(sub, 0, { commitOrder: 13, position: 40 }, token)
          expect(yield* checkpoints.get(sub, 0)).toEqual({ commitOrder: 13, position: 40 })
          expect(yield* checkpoints.get(sub, 1)).toEqual(EventStore.logStart)
        }))

      it.effect("saveCheckpoint with a stale token (or no lease) fails LeaseLost and changes nothing", () =>
        Effect.gen(function*() {
          const { checkpoints } = yield* delivery
          const sub = fresh("s")
          const first = Option.getOrThrow(yield* checkpoints.acquireLease(sub, 0, "a", 1_000, 100))
          yield* checkpoints.save(sub, 0, { commitOrder: 0, position: 5 }, first.token)
          const second = Option.getOrThrow(yield* checkpoints.acquireLease(sub, 0, "b", 2_000, 100))
          expect(second.token).toBe(first.token + 1)

          const lost = yield* Effect.flip(checkpoints.save(sub, 0, { commitOrder: 0, position: 9 }, first.token))
          expect(lost).toEqual(new Checkpoints.LeaseLost({ subscription: sub, partition: 0, token: first.token }))
          expect(yield* checkpoints.get(sub, 0)).toEqual({ commitOrder: 0, position: 5 })

          const none = yield* Effect.flip(checkpoints.save(sub, 7, { commitOrder: 0, position: 9 }, 1))
          expect(none._tag).toBe("LeaseLost")
          expect(yield* checkpoints.get(sub, 7)).toEqual(EventStore.logStart)
        }))

      it.effect("saveCheckpoint joins the ambient transaction and rolls back with it", () =>
        Effect.gen(function*() {
          const { checkpoints } = yield* delivery
          const store = yield* EventStore.EventStore
          const sub = fresh("s")
          const { token } = Option.getOrThrow(yield* checkpoints.acquireLease(sub, 0, "a", 1_000, 100))
          yield* checkpoints.save(sub, 0, { commitOrder: 0, position: 1 }, token)
          const failed = yield* Effect.exit(store.withTransaction(Effect.gen(function*() {
            yield* checkpoints.save(sub, 0, { commitOrder: 0, position: 2 }, token)
            expect(yield* checkpoints.get(sub, 0)).toEqual({ commitOrder: 0, position: 2 })
            return yield* Effect.fail("handler failed" as const)
          })))
          expect(Exit.isFailure(failed)).toBe(true)
          expect(yield* checkpoints.get(sub, 0)).toEqual({ commitOrder: 0, position: 1 })
        }))

      /**
       * Fencing under concurrency. Fiber W holds token T and, in a transaction, saves a checkpoint,
       * then stays in the transaction for 200ms. Once W has saved (not committed), the main fiber
       * takes the expired lease over as another owner.
       *
       * Asserted: the takeover gets token T+1 and the final lease token is T+1; and the
       * checkpoint is consistent with the fencing: either W committed and the takeover happened
       * after that commit (the checkpoint read right after the takeover already shows W's
       * cursor, and so does the final one), or W failed with LeaseLost and the checkpoint is
       * unchanged. What must never happen: the takeover completes while W's write is pending and
       * W then commits a checkpoint under the stale token T. (On PostgreSQL the lease row is locked
       * by `SELECT ... FOR UPDATE`, so the takeover waits for W; SQLite has one writer at a time.)
       */
      it.effect("a takeover while a checkpoint write is in flight: the write commits first or fails", () =>
        Effect.gen(function*() {
          const { checkpoints } = yield* delivery
          const store = yield* EventStore.EventStore
          const sub = fresh("s")
          const cursor = { commitOrder: 0, position: 7 }
          const held = Option.getOrThrow(yield* checkpoints.acquireLease(sub, 0, "a", 1_000, 100))
          const saved = yield* Deferred.make<void>()
          const writer = yield* Effect.fork(Effect.exit(store.withTransaction(Effect.gen(function*() {
            yield* Effect.ensuring(
              checkpoints.save(sub, 0, cursor, held.token),
              Deferred.succeed(saved, undefined)
            )
            yield* Effect.sleep("200 millis")
          }))))
          yield* Deferred.await(saved)
          const taken = yield* checkpoints.acquireLease(sub, 0, "b", 5_000, 100)
          const seenAtTakeover = yield* checkpoints.get(sub, 0)
          const written = yield* Fiber.join(writer)

          expect(Option.map(taken, (l) => [l.owner, l.token])).toEqual(Option.some(["b", held.token + 1]))
          expect((yield* checkpoints.leases(sub)).map((l) => l.token)).toEqual([held.token + 1])
          const final = yield* checkpoints.get(sub, 0)
          if (Exit.isSuccess(written)) {
            expect(seenAtTakeover).toEqual(cursor)
            expect(final).toEqual(cursor)
          } else {
            expect(Exit.isFailure(written) && written.cause.toString()).toContain("LeaseLost")
            expect(final).toEqual(EventStore.logStart)
          }
        }))
    })

    describe("operators", () => {
      it.effect("resetCheckpoint moves a checkpoint back and fences the lease holder out", () =>
        Effect.gen(function*() {
          const { checkpoints } = yield* delivery
          const sub = fresh("s")
          const held = Option.getOrThrow(yield* checkpoints.acquireLease(sub, 0, "a", 1_000, 100))
          yield* checkpoints.save(sub, 0, { commitOrder: 3, position: 40 }, held.token)

          yield* checkpoints.reset(sub, 0, { commitOrder: 1, position: 10 })
          expect(yield* checkpoints.get(sub, 0)).toEqual({ commitOrder: 1, position: 10 })
          // the holder's write under its old token is refused and changes nothing
          const lost = yield* Effect.flip(checkpoints.save(sub, 0, { commitOrder: 3, position: 41 }, held.token))
          expect(lost).toEqual(new Checkpoints.LeaseLost({ subscription: sub, partition: 0, token: held.token }))
          expect(yield* checkpoints.get(sub, 0)).toEqual({ commitOrder: 1, position: 10 })
          // the lease is free at once, under a new token, also for its former holder
          const again = Option.getOrThrow(yield* checkpoints.acquireLease(sub, 0, "a", 1_010, 100))
          expect(again.token).toBe(held.token + 1)
          yield* checkpoints.save(sub, 0, { commitOrder: 1, position: 11 }, again.token)
          expect(yield* checkpoints.get(sub, 0)).toEqual({ commitOrder: 1, position: 11 })

          // a partition never leased: only the checkpoint is written
          yield* checkpoints.reset(sub, 3, { commitOrder: 0, position: 7 })
          expect(yield* checkpoints.get(sub, 3)).toEqual({ commitOrder: 0, position: 7 })
          expect((yield* checkpoints.leases(sub)).map((l) => l.partition)).toEqual([0])
        }))

      it.effect("resetCheckpoint joins the ambient transaction and rolls back with it", () =>
        Effect.gen(function*() {
          const { checkpoints } = yield* delivery
          const store = yield* EventStore.EventStore
          const sub = fresh("s")
          const held = Option.getOrThrow(yield* checkpoints.acquireLease(sub, 0, "a", 1_000, 100))
          yield* checkpoints.save(sub, 0, { commitOrder: 0, position: 9 }, held.token)
          const failed = yield* Effect.exit(store.withTransaction(
            Effect.zipRight(checkpoints.reset(sub, 0, EventStore.logStart), Effect.fail("cancelled" as const))
          ))
          expect(Exit.isFailure(failed)).toBe(true)
          expect(yield* checkpoints.get(sub, 0)).toEqual({ commitOrder: 0, position: 9 })
          expect(yield* checkpoints.leases(sub)).toEqual([held])
        }))

      it.effect("registerSubscription records a subscription, replacing the one of the same name", () =>
        Effect.gen(function*() {
          const { registry } = yield* delivery
          const name = fresh("registered")
          const info: SubscriptionRegistry.SubscriptionInfo = {
            name,
            kind: "projection",
            partitions: 4,
            sources: [{ aggregateType: "Order", eventTypes: ["OrderPlaced", "OrderCancelled"] }, {
              aggregateType: "Payment",
              eventTypes: []
            }],
            registeredAt: 1_700_000_000_000
          }
          yield* registry.register(info)
          yield* registry.register({ ...info, name: `${name}-other`, kind: "handler" })
          const mine = (all: ReadonlyArray<SubscriptionRegistry.SubscriptionInfo>) =>
            all.filter((s) => s.name.startsWith(name))
          expect(mine(yield* registry.list)).toEqual([info, { ...info, name: `${name}-other`, kind: "handler" }])
          const changed = {
            ...info,
            partitions: 8,
            sources: [{ aggregateType: "Order", eventTypes: [] }],
            registeredAt: 1_700_000_001_000
          }
          yield* registry.register(changed)
          expect(mine(yield* registry.list)).toEqual([changed, {
            ...info,
            name: `${name}-other`,
            kind: "handler"
          }])
        }))
    })

    describe("dead letters", () => {
      it.effect("a dead letter keeps a broker message (headers, bytes) and replaces it on add; one without has none", () =>
        Effect.gen(function*() {
          const { deadLetters } = yield* delivery
          const subscription = fresh("consumer")
          const message = {
            subject: "catalog.course-published.v1",
            partitionKey: "c-1",
            headers: { "ce-id": "m-1", "content-type": "application/json" },
            payload: new Uint8Array([0, 1, 2, 255])
          }
          const kept = deadLetter({ subscription, kind: "poison", aggregateType: "message", message })
          const plain = deadLetter({ subscription, position: 2 })
          yield* deadLetters.add(kept)
          yield* deadLetters.add(plain)
          const [first, second] = yield* deadLetters.list({ subscription })
          expect(first).toEqual(kept)
          expect(second!.message).toBeUndefined()
          yield* deadLetters.add({ ...kept, attempts: 5 })
          expect(Option.getOrThrow(yield* deadLetters.get(kept.id))).toEqual({ ...kept, attempts: 5 })
        }))

      it.effect("add, list by each filter in position order, get, set status, delete", () =>
        Effect.gen(function*() {
          const { deadLetters } = yield* delivery
          const sub = fresh("s")
          const other = fresh("s")
          const type = fresh("T")
          const a = deadLetter({ subscription: sub, partition: 0, aggregateType: type, aggregateId: "x", position: 30 })
          const b = deadLetter({
            subscription: sub,
            partition: 1,
            aggregateType: type,
            aggregateId: "y",
            position: 10,
            kind: "poison"
          })
          const c = deadLetter({
            subscription: sub,
            partition: 0,
            aggregateType: type,
            aggregateId: "x",
            position: 40,
            kind: "parked",
            version: 2
          })
          const d = deadLetter({
            subscription: other,
            partition: 0,
            aggregateType: type,
            aggregateId: "x",
            position: 20
          })
          for (const letter of [a, b, c, d]) yield* deadLetters.add(letter)

          expect(yield* deadLetters.list({ subscription: sub })).toEqual([b, a, c])
          expect(yield* deadLetters.list({ aggregateType: type })).toEqual([b, d, a, c])
          expect(yield* deadLetters.list({ aggregateType: type, aggregateId: "x" })).toEqual([d, a, c])
          expect(yield* deadLetters.list({ subscription: sub, partition: 0 })).toEqual([a, c])
          expect(yield* deadLetters.list({ subscription: sub, partition: 1 })).toEqual([b])
          expect(yield* deadLetters.list({ subscription: sub, aggregateId: "y" })).toEqual([b])
          const all = yield* deadLetters.list({})
          expect(all.filter((l) => l.aggregateType === type)).toEqual([b, d, a, c])

          expect(yield* deadLetters.get(a.id)).toEqual(Option.some(a))
          expect(yield* deadLetters.get(fresh("missing"))).toEqual(Option.none())

          yield* deadLetters.setStatus(a.id, "redrive")
          expect(yield* deadLetters.get(a.id)).toEqual(Option.some({ ...a, status: "redrive" }))
          const missing = fresh("missing")
          expect(yield* Effect.flip(deadLetters.setStatus(missing, "open"))).toEqual(
            new DeadLetters.DeadLetterNotFound({ id: missing })
          )

          yield* deadLetters.remove([])
          yield* deadLetters.remove([a.id, c.id, missing])
          expect(yield* deadLetters.list({ aggregateType: type })).toEqual([b, d])
        }))
    })

    describe("inbox", () => {
      it.effect("markProcessed: true the first time, false after; rolled back with its transaction", () =>
        Effect.gen(function*() {
          const { inbox } = yield* delivery
          const store = yield* EventStore.EventStore
          const consumer = fresh("c")
          const eventId = randomUUID()
          expect(yield* inbox.markProcessed(consumer, eventId)).toBe(true)
          expect(yield* inbox.markProcessed(consumer, eventId)).toBe(false)
          expect(yield* inbox.markProcessed(fresh("c"), eventId)).toBe(true)

          const later = randomUUID()
          const failed = yield* Effect.exit(store.withTransaction(Effect.gen(function*() {
            expect(yield* inbox.markProcessed(consumer, later)).toBe(true)
            expect(yield* inbox.markProcessed(consumer, later)).toBe(false)
            return yield* Effect.fail("handler failed" as const)
          })))
          expect(Exit.isFailure(failed)).toBe(true)
          expect(yield* inbox.markProcessed(consumer, later)).toBe(true)
          expect(yield* inbox.markProcessed(consumer, later)).toBe(false)
        }))
    })
    describe("deadlines", () => {
      it.effect("set, list what is due earliest first, next, claim once, replace and cancel per instance", () =>
        Effect.gen(function*() {
          const { deadlines } = yield* delivery
          const store = yield* EventStore.EventStore
          const pm = fresh("pm")
          const at = (instanceId: string, name: string, dueAt: number): Deadlines.Deadline => ({
            processManager: pm,
            instanceId,
            name,
            dueAt
          })
          expect(yield* deadlines.next(pm)).toEqual(Option.none())
          yield* deadlines.set(pm, "a", [{ name: "payment", dueAt: 2_000 }, { name: "reminder", dueAt: 1_000 }])
          yield* deadlines.set(pm, "b", [{ name: "payment", dueAt: 1_500 }])
          yield* deadlines.set(fresh("pm"), "a", [{ name: "payment", dueAt: 10 }])
          expect(yield* deadlines.next(pm)).toEqual(Option.some(1_000))
          expect(yield* deadlines.due(pm, 999, 10)).toEqual([])
          expect(yield* deadlines.due(pm, 1_500, 10)).toEqual([
            at("a", "reminder", 1_000),
            at("b", "payment", 1_500)
          ])
          expect(yield* deadlines.due(pm, 5_000, 1)).toEqual([at("a", "reminder", 1_000)])

          // a claim inside a failed transaction is rolled back; then it succeeds once
          const failed = yield* Effect.exit(store.withTransaction(Effect.zipRight(
            deadlines.claim(at("a", "reminder", 1_000)),
            Effect.fail("crashed" as const)
          )))
          expect(Exit.isFailure(failed)).toBe(true)
          expect(yield* deadlines.claim(at("a", "reminder", 1_000))).toBe(true)
          expect(yield* deadlines.claim(at("a", "reminder", 1_000))).toBe(false)
          // a rescheduled deadline is not claimed with its old time
          yield* deadlines.set(pm, "b", [{ name: "payment", dueAt: 3_000 }])
          expect(yield* deadlines.claim(at("b", "payment", 1_500))).toBe(false)
          expect(yield* deadlines.due(pm, 5_000, 10)).toEqual([
            at("a", "payment", 2_000),
            at("b", "payment", 3_000)
          ])
          yield* deadlines.set(pm, "a", [])
          expect(yield* deadlines.due(pm, 5_000, 10)).toEqual([at("b", "payment", 3_000)])
          expect(yield* deadlines.next(pm)).toEqual(Option.some(3_000))
        }))
    })
  })
