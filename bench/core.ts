/**
 * `core.execute.pure`: the library's pure command path (expectation check, dispatch by command
 * name, decide, evolve through the handler record) against a hand-written switch doing the same
 * work: the same decisions, the same event objects, the same fold.
 *
 * Events are built as plain literals on both sides, so the figure is the library's own overhead
 * (schema-validating constructors such as `TaggedStruct.make` cost about 1.7 µs per event and
 * would dominate both).
 */
import { Either, Schema } from "effect"
import { Aggregate } from "effect-ddd"
import { type Figure, figure, rate } from "./report.js"

const Restocked = Schema.TaggedStruct("Restocked", { quantity: Schema.Int })
const Reserved = Schema.TaggedStruct("Reserved", { orderId: Schema.String, quantity: Schema.Int })
const Released = Schema.TaggedStruct("Released", { orderId: Schema.String, quantity: Schema.Int })
type Event = typeof Restocked.Type | typeof Reserved.Type | typeof Released.Type
const State = Schema.Struct({
  available: Schema.Int,
  reserved: Schema.Int,
  reservations: Schema.Record({ key: Schema.String, value: Schema.Int })
})
type State = typeof State.Type
class InsufficientStock extends Schema.TaggedError<InsufficientStock>()("InsufficientStock", {}) {}

const evolveRestocked = (s: State, e: typeof Restocked.Type): State => ({ ...s, available: s.available + e.quantity })
const evolveReserved = (s: State, e: typeof Reserved.Type): State => ({
  available: s.available - e.quantity,
  reserved: s.reserved + e.quantity,
  reservations: { ...s.reservations, [e.orderId]: e.quantity }
})
const evolveReleased = (s: State, e: typeof Released.Type): State => {
  const { [e.orderId]: _, ...reservations } = s.reservations
  return { available: s.available + e.quantity, reserved: s.reserved - e.quantity, reservations }
}
const decideRestock = (_: State, quantity: number): ReadonlyArray<Event> => [{ _tag: "Restocked", quantity }]
const decideReserve = (s: State, orderId: string, quantity: number): ReadonlyArray<Event> | undefined =>
  orderId in s.reservations ? [] : quantity > s.available ? undefined : [{ _tag: "Reserved", orderId, quantity }]
const decideRelease = (s: State, orderId: string): ReadonlyArray<Event> => {
  const quantity = s.reservations[orderId]
  return quantity === undefined ? [] : [{ _tag: "Released", orderId, quantity }]
}

const Stock = Aggregate.make({
  name: "Stock",
  id: Schema.String,
  state: State,
  events: Schema.Union(Restocked, Reserved, Released)
})({
  initial: () => ({ available: 0, reserved: 0, reservations: {} }),
  evolve: { Restocked: evolveRestocked, Reserved: evolveReserved, Released: evolveReleased }
})
  .command("restock", {
    expects: "any",
    input: Schema.Struct({ quantity: Schema.Int }),
    decide: (s, { quantity }) => Either.right(decideRestock(s, quantity))
  })
  .command("reserve", {
    expects: "any",
    input: Schema.Struct({ orderId: Schema.String, quantity: Schema.Int }),
    decide: (s, { orderId, quantity }) => {
      const events = decideReserve(s, orderId, quantity)
      return events === undefined ? Either.left(new InsufficientStock()) : Either.right(events)
    }
  })
  .command("release", {
    expects: "existing",
    input: Schema.Struct({ orderId: Schema.String }),
    decide: (s, { orderId }) => Either.right(decideRelease(s, orderId))
  })

const orders = Array.from({ length: 8 }, (_, i) => `o-${i}`)
const commands = ["restock", "reserve", "release"] as const
const inputs = (i: number) => {
  const orderId = orders[i % 8]!
  return [{ quantity: 2 }, { orderId, quantity: 1 }, { orderId }] as const
}

const evolveSwitch = (s: State, e: Event): State => {
  switch (e._tag) {
    case "Restocked":
      return evolveRestocked(s, e)
    case "Reserved":
      return evolveReserved(s, e)
    case "Released":
      return evolveReleased(s, e)
  }
}

export const run = (): ReadonlyArray<Figure> => {
  const iterations = 500_000
  let state = Stock.initial("s")
  let version = 0
  const library = rate(iterations, (i) => {
    const command = commands[i % 3]!
    const result = Aggregate.decide(Stock, { id: "s", state, version }, command, inputs(i)[i % 3] as never)
    if (Either.isRight(result)) {
      state = result.right.state
      version += result.right.events.length
    }
  })

  let rawState: State = { available: 0, reserved: 0, reservations: {} }
  let rawVersion = 0
  const handWritten = rate(iterations, (i) => {
    const input = inputs(i)
    let events: ReadonlyArray<Event> | undefined
    switch (commands[i % 3]!) {
      case "restock":
        events = decideRestock(rawState, input[0].quantity)
        break
      case "reserve":
        events = decideReserve(rawState, input[1].orderId, input[1].quantity)
        break
      case "release":
        if (rawVersion === 0) throw new Error("not found")
        events = decideRelease(rawState, input[2].orderId)
        break
    }
    if (events !== undefined) {
      for (const event of events) rawState = evolveSwitch(rawState, event)
      rawVersion += events.length
    }
  })
  if (rawVersion !== version) throw new Error(`the two paths disagree: ${version} vs ${rawVersion} events`)
  return [figure("core.execute.pure", library, "commands/s", handWritten)]
}
