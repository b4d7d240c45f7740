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
const Frozen = Schema.TaggedStruct("Frozen", {})

class InsufficientFunds extends Schema.TaggedError<InsufficientFunds>()("InsufficientFunds", {
  balance: Schema.Int,
  requested: Schema.Int
}) {}
class AccountFrozen extends Schema.TaggedError<AccountFrozen>()("AccountFrozen", {}) {}

// 2. The aggregate: pure functions only. `evolve` has one case per event (a missing one does not compile).
export const Account = Aggregate.make({
  name: "Account",
  id: AccountId,
  state: Schema.Struct({ owner: Schema.String, balance: Schema.Int, frozen: Schema.Boolean }),
  events: Schema.Union(Opened, Deposited, Withdrawn, Frozen)
})({
  initial: () => ({ owner: "", balance: 0, frozen: false }),
  evolve: {
    Opened: (state, e) => ({ ...state, owner: e.owner }),
    Deposited: (state, e) => ({ ...state, balance: state.balance + e.amount }),
    Withdrawn: (state, e) => ({ ...state, balance: state.balance - e.amount }),
    Frozen: (state) => ({ ...state, frozen: true })
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
    // two rules, two errors: the command's error type is inferred as AccountFrozen | InsufficientFunds
    decide: (state, { amount }) =>
      state.frozen
        ? Either.left(new AccountFrozen())
        : amount > state.balance
        ? Either.left(new InsufficientFunds({ balance: state.balance, requested: amount }))
        : Either.right([Withdrawn.make({ amount })])
  })
  .command("freeze", {
    expects: "existing",
    input: Schema.Struct({}),
    // an empty list of events: nothing to do (freezing twice changes nothing)
    decide: (state) => Either.right(state.frozen ? [] : [Frozen.make({})])
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

  // domain errors are typed values, handled by their tags
  const withdraw = (amount: number) =>
    CommandHandler.execute(Account, id, "withdraw", { amount }).pipe(
      Effect.as("done"),
      Effect.catchTags({
        InsufficientFunds: (e) => Effect.succeed(`refused: balance ${e.balance}, requested ${e.requested}`),
        AccountFrozen: () => Effect.succeed("refused: the account is frozen")
      })
    )
  yield* Effect.log(yield* withdraw(1_000))
  const frozen = yield* CommandHandler.execute(Account, id, "freeze", {})
  yield* Effect.log(yield* withdraw(10))
  return frozen.state
})

// 4. Layers choose the adapters: the in-memory store here, SQLite or PostgreSQL in production.
const MainLayer = CommandHandler.layer().pipe(Layer.provide(MemoryEventStore.layer))

Effect.runPromise(program.pipe(Effect.provide(MainLayer))).then((state) => {
  console.log(`final state: ${JSON.stringify(state)}`)
})
