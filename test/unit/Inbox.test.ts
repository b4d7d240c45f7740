import { describe, expect, expectTypeOf, it } from "@effect/vitest"
import { Effect } from "effect"
import { EventStore, Inbox, MemoryEventStore } from "effect-ddd"

describe("Inbox", () => {
  it.effect("Inbox.once runs an effect once per consumer and event, and rolls back with its transaction", () =>
    Effect.gen(function*() {
      const store = yield* EventStore.EventStore
      let sent = 0
      const send = Effect.sync(() => sent++)
      // data-first and pipeable: the same once
      expect(yield* Inbox.once(send, "mailer", "event-1")).toBe(true)
      expect(yield* send.pipe(Inbox.once("mailer", "event-1"))).toBe(false)
      expect(yield* send.pipe(Inbox.once("audit", "event-1"))).toBe(true)
      expect(yield* Inbox.once(send, "audit", "event-1")).toBe(false)
      yield* Effect.ignore(
        store.withTransaction(Effect.zipRight(send.pipe(Inbox.once("mailer", "event-2")), Effect.fail("boom")))
      )
      expect(yield* send.pipe(Inbox.once("mailer", "event-2"))).toBe(true)
      expect(sent).toBe(4)
      // the effect's error and requirements pass through, with the store's error
      const failing = Effect.fail("refused" as const).pipe(Inbox.once("mailer", "event-3"))
      expectTypeOf(failing).toEqualTypeOf<
        Effect.Effect<boolean, "refused" | EventStore.EventStoreError, Inbox.Inbox>
      >()
      expect(yield* Effect.flip(failing)).toBe("refused")
    }).pipe(Effect.provide(MemoryEventStore.layer)))
})
