/**
 * What the relay logs when deliveries fail: each failed attempt at warning, a dead letter at
 * error, a redrive (requested, failed again, delivered) and a discard, every line annotated with
 * the subscription, the event (id, type, aggregate) and, where it applies, the attempt and the
 * error. Captured with a test `Logger` around a relay run on the memory stores.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, HashMap, Layer, Logger, Schedule } from "effect"
import { CommandHandler, MemoryEventStore, Relay, Subscription } from "effect-ddd"
import { randomUUID } from "node:crypto"
import { Inventory } from "../../examples/http-server/Domain/Inventory.js"
import { Sku } from "../../examples/http-server/Domain/Order.js"
import { eventually } from "../contracts/RelayContract.js"

interface Entry {
  readonly level: string
  readonly message: string
  readonly annotations: Record<string, unknown>
}

/** A logger that keeps every entry, instead of the default one. */
const capturing = (entries: Array<Entry>) =>
  Logger.replace(
    Logger.defaultLogger,
    Logger.make(({ annotations, logLevel, message }) => {
      entries.push({
        level: logLevel.label,
        message: Array.isArray(message) ? message.join(" ") : String(message),
        annotations: Object.fromEntries(HashMap.toEntries(annotations))
      })
    })
  )

const Stores = Layer.provideMerge(CommandHandler.layer(), MemoryEventStore.layer)

describe("Relay logs", () => {
  it.live("a failed attempt, a dead letter, a redrive that fails again, one that delivers, and a discard", () => {
    const entries: Array<Entry> = []
    const name = `logged-${randomUUID()}`
    const sku = Sku.make(`sku-${randomUUID()}`)
    const other = Sku.make(`other-${randomUUID()}`)
    let fixed = false
    const subscription = Subscription.make({
      name,
      events: [Subscription.on(Inventory, "StockRestocked")],
      retry: Schedule.recurs(1),
      partitions: 1,
      handle: (_, envelope) =>
        envelope.aggregateId === other || (envelope.aggregateId === sku && !fixed)
          ? Effect.fail(new Error(`cannot handle ${envelope.aggregateId}`))
          : Effect.void
    })
    const lines = (level: string, text: string) =>
      entries.filter((e) => e.level === level && e.message.includes(text) && e.annotations["subscription"] === name)
    return Effect.gen(function*() {
      yield* CommandHandler.execute(Inventory, sku, "restock", { quantity: 1 })
      yield* CommandHandler.execute(Inventory, other, "restock", { quantity: 1 })
      yield* Effect.scoped(Effect.gen(function*() {
        const relay = yield* Effect.provide(
          Relay.Relay,
          yield* Layer.build(Relay.layer({ subscriptions: [subscription], pollInterval: "50 millis" }))
        )
        const letters = yield* eventually(Effect.filterOrFail(
          relay.deadLetters({ subscription: name }),
          (l) => l.length === 2,
          () => "not dead-lettered yet"
        ))
        const letter = letters.find((l) => l.aggregateId === sku)!
        const event = {
          subscription: name,
          eventId: letter.eventId,
          eventType: "StockRestocked",
          aggregate: `Inventory/${sku}`,
          version: 1
        }

        // each failed attempt at warning, with its number and error
        const failed = lines("WARN", `delivery of StockRestocked ${letter.eventId}`)
        expect(failed.map((e) => e.annotations)).toEqual([
          expect.objectContaining({ ...event, attempt: 1, error: `Error: cannot handle ${sku}` }),
          expect.objectContaining({ ...event, attempt: 2, error: `Error: cannot handle ${sku}` })
        ])
        expect(failed[0]!.message).toContain("failed (attempt 1): Error: cannot handle")
        // the dead letter at error
        const dead = lines("ERROR", `${letter.eventId} of Inventory/${sku}@1 dead-lettered`)
        expect(dead.map((e) => e.annotations)).toEqual([
          expect.objectContaining({ ...event, kind: "failed", attempts: 2, error: `Error: cannot handle ${sku}` })
        ])

        // a redrive that fails again: its attempts at warning, the outcome at error
        const again = yield* relay.redrive(letter.id)
        expect(again.events.map((e) => e.outcome)).toEqual(["failed"])
        expect(lines("INFO", "redrive of 1 dead letter(s)").map((e) => e.annotations)).toEqual([
          expect.objectContaining({ ...event, deadLetter: letter.id })
        ])
        expect(lines("WARN", `redrive of StockRestocked ${letter.eventId}`).map((e) => e.annotations)).toEqual([
          expect.objectContaining({ ...event, attempt: 1, error: `Error: cannot handle ${sku}` }),
          expect.objectContaining({ ...event, attempt: 2, error: `Error: cannot handle ${sku}` })
        ])
        const failedAgain = lines("ERROR", "failed again after 2 attempt(s)")
        expect(failedAgain.map((e) => e.annotations)).toEqual([
          expect.objectContaining({ ...event, attempts: 4, error: `Error: cannot handle ${sku}` })
        ])

        // a redrive that delivers, at info
        fixed = true
        const delivered = yield* relay.redrive(letter.id)
        expect(delivered.events.map((e) => e.outcome)).toEqual(["delivered"])
        expect(lines("INFO", `redrive delivered StockRestocked ${letter.eventId}`).map((e) => e.annotations))
          .toEqual([expect.objectContaining({ ...event, attempt: 1 })])

        // a discard, at info
        const otherLetter = letters.find((l) => l.aggregateId === other)!
        yield* relay.discard(otherLetter.id)
        expect(lines("INFO", `dead letter ${otherLetter.id}`).map((e) => [e.message, e.annotations])).toEqual([[
          expect.stringContaining("discarded"),
          expect.objectContaining({
            subscription: name,
            deadLetter: otherLetter.id,
            eventId: otherLetter.eventId,
            eventType: "StockRestocked",
            aggregate: `Inventory/${other}`
          })
        ]])
      }))
    }).pipe(Effect.provide(Stores), Effect.provide(capturing(entries)))
  })
})
