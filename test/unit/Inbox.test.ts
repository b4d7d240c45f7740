import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { EventStore, Inbox, MemoryEventStore } from "effect-ddd"

describe("Inbox", () => {
  it.effect("Inbox.once runs an effect once per consumer and event, and rolls back with its transaction", () =>
    Effect.gen(function*() {
      const store = yield* EventStore.EventStore
      let sent = 0
      const send = Effect.sync(() => sent++)
      expect(yield* Inbox.once("mailer", "event-1", send)).toBe(true)
      expect(yield* Inbox.once("mailer", "event-1", send)).toBe(false)
      expect(yield* Inbox.once("audit", "event-1", send)).toBe(true)
      yield* Effect.ignore(
        store.withTransaction(Effect.zipRight(Inbox.once("mailer", "event-2", send), Effect.fail("boom")))
      )
      expect(yield* Inbox.once("mailer", "event-2", send)).toBe(true)
      expect(sent).toBe(4)
    }).pipe(Effect.provide(MemoryEventStore.layer)))
})
