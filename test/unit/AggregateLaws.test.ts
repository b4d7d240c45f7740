import { describe, expect, it } from "@effect/vitest"
import { Arbitrary, Either, FastCheck, Schema } from "effect"
import { Aggregate } from "effect-ddd"
import { AggregateLaws, AggregateSpec } from "effect-ddd/testing"
import { Inventory } from "../../examples/http-server/Domain/Inventory.js"
import { Order, OrderId, Sku } from "../../examples/http-server/Domain/Order.js"

const orderIds = FastCheck.constantFrom(...["o-1", "o-2", "o-3"].map((id) => OrderId.make(id)))
const quantity = FastCheck.integer({ min: 1, max: 20 })

describe("aggregate laws", () => {
  it.prop("Order: replay and decision determinism", [AggregateLaws.scenario(Order)], ([scenario]) => {
    AggregateLaws.check(Order, scenario)
  }, { fastCheck: { numRuns: 150 } })

  it.prop(
    "Inventory: replay and decision determinism (interacting orders)",
    [AggregateLaws.scenario(Inventory, {
      maxLength: 30,
      inputs: {
        restock: FastCheck.record({ quantity }),
        reserve: FastCheck.record({ orderId: orderIds, quantity }),
        release: FastCheck.record({ orderId: orderIds }),
        sell: FastCheck.record({ orderId: orderIds }),
        returnSold: FastCheck.record({ orderId: orderIds, quantity })
      }
    })],
    ([scenario]) => {
      const events = AggregateLaws.check(Inventory, scenario)
      // stock is conserved: available + reserved + sold = everything restocked, and nothing is negative
      const state = Aggregate.replay(Inventory, scenario.id, events)
      const restocked = events.reduce((n, e) => (e._tag === "StockRestocked" ? n + e.quantity : n), 0)
      expect(state.available + state.reserved + state.sold).toBe(restocked)
      expect(Math.min(state.available, state.reserved, state.sold)).toBeGreaterThanOrEqual(0)
    },
    { fastCheck: { numRuns: 150 } }
  )

  it("the laws catch an evolve that disagrees with its own events", () => {
    const Broken = Aggregate.make({
      name: "Broken",
      id: Sku,
      state: Schema.Struct({ n: Schema.Int }),
      events: Schema.TaggedStruct("Added", { n: Schema.Int })
    })({ initial: () => ({ n: 0 }), evolve: { Added: (s, e) => ({ n: s.n + e.n }) } })
      .command("add", {
        expects: "any",
        input: Schema.Struct({ n: Schema.Int }),
        decide: (_, { n }) => Either.right([{ _tag: "Added" as const, n }])
      })
    // a decision whose state is not the fold of its events cannot be produced by Aggregate.decide,
    // so break determinism instead: a decide that depends on hidden mutable state
    let calls = 0
    const Flaky = Broken.command("flaky", {
      expects: "any",
      input: Schema.Struct({}),
      decide: () => Either.right([{ _tag: "Added" as const, n: ++calls }])
    })
    expect(() => AggregateLaws.check(Flaky, { id: Sku.make("x"), steps: [{ command: "flaky", input: {} }] }))
      .toThrow(/the law "decision determinism" is broken at step 1 of 1 \(flaky\)[\s\S]*twice/)
    AggregateSpec.make(Broken, Sku.make("x")).given([]).when("add", { n: 2 }).thenState({ n: 2 })
  })
})

const AccountId = Schema.String.pipe(Schema.brand("AccountId"))
const Deposited = Schema.TaggedStruct("Deposited", { amount: Schema.Int })
const Split = Schema.TaggedStruct("Split", { parts: Schema.Int })

/** Deliberately broken: splitting into 0 parts makes the share Infinity, which JSON stores as null. */
const Shares = Aggregate.make({
  name: "Shares",
  id: AccountId,
  state: Schema.Struct({ total: Schema.Number, share: Schema.Number }),
  events: Schema.Union(Deposited, Split)
})({
  initial: () => ({ total: 0, share: 0 }),
  evolve: {
    Deposited: (s, e) => ({ total: s.total + e.amount, share: s.share }),
    Split: (s, e) => ({ total: s.total, share: s.total / e.parts })
  }
})
  .command("deposit", {
    expects: "any",
    input: Schema.Struct({ amount: Schema.Int.pipe(Schema.between(1, 1_000)) }),
    decide: (_, { amount }) => Either.right([Deposited.make({ amount })])
  })
  .command("split", {
    expects: "any",
    input: Schema.Struct({ parts: Schema.Int }),
    decide: (_, { parts }) => Either.right([Split.make({ parts })])
  })

const caught = (body: () => unknown): AggregateLaws.LawBroken => {
  try {
    body()
  } catch (error) {
    if (error instanceof AggregateLaws.LawBroken) return error
    throw error
  }
  throw new Error("no law was broken")
}

describe("a broken law says which, where and why", () => {
  it("names the law, the command sequence with its inputs, the failing step and the formatted schema error", () => {
    const id = AccountId.make("acc-1")
    const broken = caught(() =>
      AggregateLaws.check(Shares, {
        id,
        steps: [
          { command: "deposit", input: { amount: 10 } },
          { command: "split", input: { parts: 0 } },
          { command: "deposit", input: { amount: 1 } }
        ]
      })
    )
    expect([broken.law, broken.step, broken.aggregateType, broken.aggregateId]).toEqual([
      "state round trip",
      2,
      "Shares",
      "acc-1"
    ])
    expect(broken.message).toBe([
      `Shares acc-1: the law "state round trip" is broken at step 2 of 3 (split).`,
      "Commands (inputs as generated; those after the marked step did not run):",
      "  1. deposit { amount: 10 }",
      "> 2. split { parts: 0 }",
      "  3. deposit { amount: 1 }",
      "the state after split does not survive its schema's encode, JSON and decode:",
      "{ readonly total: number; readonly share: number }",
      "└─ [\"share\"]",
      "   └─ Expected number, actual null"
    ].join("\n"))
  })

  it("a state outside its schema, an event outside its schema, a throwing decide and a non-deterministic evolve", () => {
    const id = AccountId.make("acc-2")
    const Bad = Shares
      .command("negative", {
        expects: "any",
        input: Schema.Struct({}),
        decide: () => Either.right([{ _tag: "Deposited" as const, amount: 0.5 }])
      })
      .command("throws", {
        expects: "any",
        input: Schema.Struct({ n: Schema.Int }),
        decide: (_, { n }) => {
          if (n === 0) throw new RangeError("n must not be 0")
          return Either.right([])
        }
      })
    const event = caught(() => AggregateLaws.check(Bad, { id, steps: [{ command: "negative", input: {} }] }))
    expect(event.law).toBe("event round trip")
    expect(event.message).toContain(`the event { _tag: "Deposited", amount: 0.5 } does not survive`)
    expect(event.message).toContain("Expected an integer, actual 0.5")
    const thrown = caught(() =>
      AggregateLaws.check(Bad, {
        id,
        steps: [{ command: "throws", input: { n: 1 } }, { command: "throws", input: { n: 0 } }]
      })
    )
    expect([thrown.law, thrown.step]).toEqual(["total decision", 2])
    expect(thrown.message).toContain("throws threw instead of returning an Either:\nRangeError: n must not be 0")
    expect(thrown.cause).toBeInstanceOf(RangeError)

    let applied = 0
    const Drifting = Aggregate.make({
      name: "Drifting",
      id: AccountId,
      state: Schema.Struct({ n: Schema.Int }),
      events: Deposited
    })({ initial: () => ({ n: 0 }), evolve: { Deposited: (s) => ({ n: s.n + ++applied }) } })
      .command("deposit", {
        expects: "any",
        input: Schema.Struct({}),
        decide: () => Either.right([Deposited.make({ amount: 1 })])
      })
    const replay = caught(() => AggregateLaws.check(Drifting, { id, steps: [{ command: "deposit", input: {} }] }))
    expect(replay.law).toBe("replay determinism")
    expect(replay.message).toContain("differs from the fold of all events so far")
    // the diff: the state the command returned (evolve's first call) against the replay (its third)
    expect(replay.message).toMatch(/\+ {3}n: 1\n- {3}n: 3/)
  })

  it("generated scenarios find an off-by-one at a refinement's bound: inputs are biased towards boundaries", () => {
    const Restocked = Schema.TaggedStruct("Restocked", { quantity: Schema.Int })
    class Full extends Schema.TaggedError<Full>()("Full", {}) {}
    // a shelf holds at most 1,000 items, and the check lets 1,001 in
    const Shelf = Aggregate.make({
      name: "Shelf",
      id: AccountId,
      state: Schema.Struct({ items: Schema.Int.pipe(Schema.between(0, 1_000)) }),
      events: Restocked
    })({ initial: () => ({ items: 0 }), evolve: { Restocked: (s, e) => ({ items: s.items + e.quantity }) } })
      .command("restock", {
        expects: "any",
        input: Schema.Struct({ quantity: Schema.Int.pipe(Schema.between(1, 1_000)) }),
        decide: (s, { quantity }) =>
          s.items + quantity > 1_001 ? Either.left(new Full()) : Either.right([Restocked.make({ quantity })])
      })
    const run = (boundaries: boolean) =>
      FastCheck.check(
        FastCheck.property(AggregateLaws.scenario(Shelf, { boundaries }), (scenario) => {
          AggregateLaws.check(Shelf, scenario)
        }),
        { numRuns: 100, seed: 8 }
      )
    // over seeds 1 to 100 (100 runs each) the biased inputs find it for 99 seeds, the schemas' own
    // arbitraries for 45; this seed is one where only the biased inputs do
    const biased = run(true)
    expect(biased.failed).toBe(true)
    const error = biased.errorInstance as AggregateLaws.LawBroken
    expect(error.law).toBe("state round trip")
    expect(error.steps.reduce((sum, step) => sum + (step.input as { quantity: number }).quantity, 0)).toBe(1_001)
    expect(error.message).toContain("Expected a number between 0 and 1000, actual 1001")
    expect(run(false).failed).toBe(false)
  })
})

describe("boundary-biased arbitraries", () => {
  const draws = <A, I>(schema: Schema.Schema<A, I>, options?: { readonly boundaries?: boolean }) =>
    FastCheck.sample(AggregateLaws.arbitrary(schema, options), { numRuns: 400, seed: 1 })
  const count = <A>(values: ReadonlyArray<A>, value: A) => values.filter((v) => Object.is(v, value)).length

  it("integers: 0, 1 and -1 often, and still the rest of the range", () => {
    const ints = draws(Schema.Int)
    for (const edge of [0, 1, -1]) expect(count(ints, edge)).toBeGreaterThanOrEqual(10)
    expect(new Set(ints).size).toBeGreaterThan(100)
    expect(ints.every(Number.isInteger)).toBe(true)
  })

  it("refinements: their minimum and maximum, and nothing outside them", () => {
    const between = draws(Schema.Int.pipe(Schema.between(5, 50)))
    expect(count(between, 5)).toBeGreaterThanOrEqual(10)
    expect(count(between, 50)).toBeGreaterThanOrEqual(10)
    expect(between.every((n) => n >= 5 && n <= 50)).toBe(true)
    const positive = draws(Schema.Int.pipe(Schema.positive()))
    expect(count(positive, 1)).toBeGreaterThanOrEqual(10)
    expect(positive.every((n) => n >= 1)).toBe(true)
    const below = draws(Schema.Number.pipe(Schema.lessThan(10), Schema.greaterThanOrEqualTo(-3)))
    expect(count(below, -3)).toBeGreaterThanOrEqual(10)
    expect(below.every((n) => n >= -3 && n < 10)).toBe(true)
  })

  it("strings and arrays: empty, shortest and longest, inside structs too", () => {
    const input = draws(Schema.Struct({
      name: Schema.String,
      code: Schema.String.pipe(Schema.minLength(2), Schema.maxLength(4)),
      tags: Schema.Array(Schema.Int),
      nonEmpty: Schema.NonEmptyArray(Schema.String)
    }))
    expect(input.filter((i) => i.name === "").length).toBeGreaterThanOrEqual(40)
    expect(input.filter((i) => i.code === "aa").length).toBeGreaterThanOrEqual(10)
    expect(input.filter((i) => i.code === "aaaa").length).toBeGreaterThanOrEqual(10)
    expect(input.filter((i) => i.tags.length === 0).length).toBeGreaterThanOrEqual(40)
    expect(input.filter((i) => i.tags.includes(0)).length).toBeGreaterThanOrEqual(10)
    expect(input.every((i) => i.nonEmpty.length > 0 && i.code.length >= 2 && i.code.length <= 4)).toBe(true)
  })

  it("a schema's own arbitrary annotation is kept, and boundaries: false gives Arbitrary.make's draws", () => {
    const own = Schema.Int.annotations({ arbitrary: () => (fc) => fc.integer({ min: 1_000, max: 2_000 }) })
    expect(draws(own).every((n) => n >= 1_000 && n <= 2_000)).toBe(true)
    expect(draws(Schema.Int, { boundaries: false })).toEqual(
      FastCheck.sample(Arbitrary.make(Schema.Int), { numRuns: 400, seed: 1 })
    )
  })
})
