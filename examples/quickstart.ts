/**
 * Quick start: a bank account aggregate, executed on the in-memory store.
 * Run it with `npx tsx examples/quickstart.ts`.
 */
import { Effect, Either, Layer, Schema } from "effect"
import { Aggregate, CommandHandler, MemoryEventStore } from "effect-ddd"

// 1. Events, state and errors are schemas: they are stored, decoded and sent over the wire typed.
const AccountId = Schema.String.pipe(Schema.brand("AccountId"))
const Opened = Schema.TaggedStruct("Opened", { owner: Schema.String })
const Deposited = Schema.TaggedStruct("Deposited", { amount: Schema.Int })
const Withdrawn = Schema.TaggedStruct("Withdrawn", { amount: Schema.Int })

class InsufficientFunds extends Schema.TaggedError<InsufficientFunds>()("InsufficientFunds", {
  balance: Schema.Int,
  requested: Schema.Int
}) {}

// 2. The aggregate: pure functions only. `evolve` has one case per event (a missing one does not compile).
export const Account = Aggregate.make({
  name: "Account",
  id: AccountId,
  state: Schema.Struct({ owner: Schema.String, balance: Schema.Int }),
  events: Schema.Union(Opened, Deposited, Withdrawn)
})({
  initial: () => ({ owner: "", balance: 0 }),
  evolve: {
    Opened: (state, e) => ({ ...state, owner: e.owner }),
    Deposited: (state, e) => ({ ...state, balance: state.balance + e.amount }),
    Withdrawn: (state, e) => ({ ...state, balance: state.balance - e.amount })
  }
})
  .command("open", {
    expects: "new",
    input: Schema.Struct({ owner: Schema.String }),
    decide: (_, { owner }) => Either.right([Opened.make({ owner })])
  })
  .command("deposit", {
    expects: "existing",
    input: Schema.Struct({ amount: Schema.Int.pipe(Schema.positive()) }),
    decide: (_, { amount }) => Either.right([Deposited.make({ amount })])
  })
  .command("withdraw", {
    expects: "existing",
    input: Schema.Struct({ amount: Schema.Int.pipe(Schema.positive()) }),
    decide: (state, { amount }) =>
      amount > state.balance
        ? Either.left(new InsufficientFunds({ balance: state.balance, requested: amount }))
        : Either.right([Withdrawn.make({ amount })])
  })

// 3. A program: each execute loads, decides and appends in one transaction.
const program = Effect.gen(function*() {
  const id = AccountId.make("acc-1")
  yield* CommandHandler.execute(Account, id, "open", { owner: "Ada" })
  yield* CommandHandler.execute(Account, id, "deposit", { amount: 100 }, { idempotencyKey: "deposit-1" })
  // the same idempotency key again: the stored result comes back, nothing is deposited twice
  const replay = yield* CommandHandler.execute(Account, id, "deposit", { amount: 100 }, { idempotencyKey: "deposit-1" })
  yield* Effect.log(`deposit replayed: ${replay.replayed}, balance ${replay.state.balance}`)

  const result = yield* CommandHandler.execute(Account, id, "withdraw", { amount: 30 })
  yield* Effect.log(`withdrew 30: balance ${result.state.balance} at version ${result.version}`)

  // domain errors are typed values
  const refused = yield* CommandHandler.execute(Account, id, "withdraw", { amount: 1_000 }).pipe(
    Effect.catchTag(
      "InsufficientFunds",
      (e) => Effect.succeed(`refused: balance ${e.balance}, requested ${e.requested}`)
    )
  )
  yield* Effect.log(refused)
  return result.state
})

// 4. Layers choose the adapters: the in-memory store here, SQLite or PostgreSQL in production.
const MainLayer = CommandHandler.layer().pipe(Layer.provide(MemoryEventStore.layer))

Effect.runPromise(program.pipe(Effect.provide(MainLayer))).then((state) => {
  console.log(`final state: ${JSON.stringify(state)}`)
})
