import { describe, expect, it } from "@effect/vitest"
import { Either, Schema } from "effect"
import { Aggregate } from "effect-ddd"

const CounterId = Schema.String.pipe(Schema.brand("CounterId"))
const Incremented = Schema.TaggedStruct("Incremented", { by: Schema.Int })
const Reset = Schema.TaggedStruct("Reset", {})
const Unrelated = Schema.TaggedStruct("Unrelated", {})
class TooLarge extends Schema.TaggedError<TooLarge>()("TooLarge", { by: Schema.Int }) {}

const Counter = Aggregate.make({
  name: "Counter",
  id: CounterId,
  state: Schema.Struct({ count: Schema.Int }),
  events: Schema.Union(Incremented, Reset)
})({
  initial: () => ({ count: 0 }),
  evolve: {
    Incremented: (state, e) => ({ count: state.count + e.by }),
    Reset: () => ({ count: 0 })
  }
})
  .command("increment", {
    expects: "any",
    input: Schema.Struct({ by: Schema.Int }),
    decide: (_, { by }) => (by > 100 ? Either.left(new TooLarge({ by })) : Either.right([Incremented.make({ by })]))
  })
  .command("create", {
    expects: "new",
    input: Schema.Struct({}),
    decide: () => Either.right([Incremented.make({ by: 1 })])
  })
  .command("reset", {
    expects: "existing",
    input: Schema.Struct({}),
    decide: () => Either.right([Reset.make({})])
  })
  .command("twice", {
    expects: "any",
    input: Schema.Struct({ by: Schema.Int }),
    decide: (_, { by }) => Either.right([Incremented.make({ by }), Incremented.make({ by })])
  })

const id = CounterId.make("c-1")

describe("Aggregate", () => {
  it("decide returns the events and the state they lead to", () => {
    const result = Aggregate.decide(Counter, { id, state: { count: 5 }, version: 3 }, "twice", { by: 2 })
    expect(result).toEqual(
      Either.right({ state: { count: 9 }, events: [Incremented.make({ by: 2 }), Incremented.make({ by: 2 })] })
    )
  })

  it("a domain error is returned as Left and typed", () => {
    const result = Aggregate.decide(Counter, { id, state: { count: 0 }, version: 0 }, "increment", { by: 101 })
    expect(Either.isLeft(result) && result.left._tag).toBe("TooLarge")
  })

  it("expectations: new on an existing aggregate, existing on a missing one", () => {
    const exists = Aggregate.decide(Counter, { id, state: { count: 1 }, version: 1 }, "create", {})
    expect(Either.isLeft(exists) && exists.left).toEqual(
      new Aggregate.AggregateAlreadyExists({ aggregateType: "Counter", aggregateId: id })
    )
    const missing = Aggregate.decide(Counter, { id, state: { count: 0 }, version: 0 }, "reset", {})
    expect(Either.isLeft(missing) && missing.left).toEqual(
      new Aggregate.AggregateNotFound({ aggregateType: "Counter", aggregateId: id })
    )
  })

  it("replay folds from initial; persistence can be switched without changing the definition", () => {
    expect(Aggregate.replay(Counter, id, [Incremented.make({ by: 2 }), Reset.make({}), Incremented.make({ by: 3 })]))
      .toEqual({ count: 3 })
    const sourced = Aggregate.withPersistence(Counter, Aggregate.eventSourced({ snapshotEvery: 10 }))
    expect(sourced.persistence).toEqual({ _tag: "EventSourced", snapshotEvery: 10 })
    expect(Counter.persistence).toEqual({ _tag: "StateStored" })
    expect(sourced.commands).toBe(Counter.commands)
  })

  it("schemaVersion is one more than the highest upcaster", () => {
    const Versioned = Aggregate.make({
      name: "V",
      id: CounterId,
      state: Schema.Struct({ count: Schema.Int }),
      events: Incremented,
      upcasters: { Incremented: { 1: (p: object) => ({ ...p, by: 1 }), 2: (p: object) => p } }
    })({ initial: () => ({ count: 0 }), evolve: { Incremented: (s, e) => ({ count: s.count + e.by }) } })
    expect(Aggregate.schemaVersion(Versioned, "Incremented")).toBe(3)
    expect(Aggregate.schemaVersion(Counter, "Incremented")).toBe(1)
  })

  it("type level: a missing or unknown evolve case, or a foreign event, does not compile", () => {
    const make = Aggregate.make({
      name: "Counter",
      id: CounterId,
      state: Schema.Struct({ count: Schema.Int }),
      events: Schema.Union(Incremented, Reset)
    })
    // @ts-expect-error the Reset case is missing
    make({ initial: () => ({ count: 0 }), evolve: { Incremented: (s, e) => ({ count: s.count + e.by }) } })
    make({
      initial: () => ({ count: 0 }),
      evolve: {
        Incremented: (s, e) => ({ count: s.count + e.by }),
        Reset: () => ({ count: 0 }),
        // @ts-expect-error Unrelated is not an event of this aggregate
        Unrelated: (s: { count: number }) => s
      }
    })
    const withBad = Counter.command("bad", {
      expects: "any",
      input: Schema.Struct({}),
      // @ts-expect-error Unrelated is not in the event union
      decide: () => Either.right([Unrelated.make({})])
    })
    // @ts-expect-error the state type must match the state schema
    make({ initial: () => ({ count: "zero" }), evolve: { Incremented: (s) => s, Reset: (s) => s } })
    // never called: the checks are the compiler's
    const typeOnly = () => {
      // @ts-expect-error unknown command name
      Aggregate.decide(Counter, { id, state: { count: 0 }, version: 0 }, "nope", {})
      // @ts-expect-error wrong input type
      Aggregate.decide(Counter, { id, state: { count: 0 }, version: 0 }, "increment", { by: "1" })
    }
    expect(typeof typeOnly).toBe("function")
    // .command returns a new definition; the original is unchanged
    expect(Object.keys(withBad.commands)).toContain("bad")
    expect(Object.keys(Counter.commands)).not.toContain("bad")
  })
})
