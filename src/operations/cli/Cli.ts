/**
 * The `effect-ddd` commands: `migrate`, `status`, `dead-letters list | show | redrive | discard`,
 * `replay`, `prune` and `projections list | status | rebuild`. Every command takes `--database` (or `DATABASE_URL`) and `--json`.
 */
import { Args, Command, HelpDoc, Options, ValidationError } from "@effect/cli"
import type { SqlClient } from "@effect/sql"
import { Cause, Clock, Config, Console, Duration, Effect, Option } from "effect"
import type { SqlEventStore } from "../../adapters/sql/index.js"
import * as Migrations from "../../adapters/sql/migrations.js"
import { CliError, describe } from "./CliError.js"
import * as Database from "./Database.js"
import * as DeadLetters from "./DeadLetters.js"
import * as Output from "./Output.js"
import * as Projections from "./Projections.js"
import * as Prune from "./Prune.js"
import * as Replay from "./Replay.js"
import * as Status from "./Status.js"

const database = Options.text("database").pipe(
  Options.withAlias("d"),
  Options.withDescription(Database.help),
  Options.withFallbackConfig(Config.string("DATABASE_URL").pipe(Config.withDefault("")))
)

const json = Options.boolean("json").pipe(Options.withDescription("Print JSON (for scripts) instead of tables"))

const optionalText = (name: string, description: string) =>
  Options.text(name).pipe(Options.withDescription(description), Options.optional)

const seconds = (name: string, fallback: number, description: string) =>
  Options.integer(name).pipe(
    Options.withDescription(`${description} (seconds, default ${fallback})`),
    Options.withDefault(fallback),
    Options.mapEffect((n) =>
      n >= 0 ? Effect.succeed(n) : Effect.fail(ValidationError.invalidValue(HelpDoc.p(`--${name} must be 0 or more`)))
    )
  )

/** Run `use` with the stores of a migrated database. */
const withStores = <A, E>(value: string, use: Effect.Effect<A, E, SqlEventStore.Stores | SqlClient.SqlClient>) =>
  Effect.flatMap(Database.parse(value), (target) => Effect.provide(use, Database.stores(target)))

/** Print `value` as JSON, or its rendering. */
const print = <A>(asJson: boolean, value: A, render: (value: A) => string) =>
  asJson ? Output.json(value) : Console.log(render(value))

const migrate = Command.make("migrate", { database, json }, (options) =>
  Effect.gen(function*() {
    const target = yield* Database.parse(options.database)
    const applied = yield* Migrations.run.pipe(
      Effect.catchAllCause((cause) => Effect.fail(new CliError({ message: `migration failed: ${describe(cause)}` }))),
      Effect.provide(Database.client(target, { create: true }))
    )
    const result = {
      database: Database.show(target),
      applied: applied.map(([id, name]) => ({ id, name })),
      total: Migrations.names.length
    }
    yield* print(options.json, result, (r) =>
      r.applied.length === 0
        ? `${r.database}: up to date (${r.total} migrations applied)`
        : `${r.database}: applied ${r.applied.map((m) => `${String(m.id).padStart(4, "0")}_${m.name}`).join(", ")}`)
  })).pipe(Command.withDescription("Create or update the library's tables (safe to run at any time)"))

const status = Command.make(
  "status",
  { database, json, subscription: optionalText("subscription", "Only this subscription") },
  (options) =>
    withStores(
      options.database,
      Effect.flatMap(Status.report(Option.getOrUndefined(options.subscription)), (report) =>
        Option.isSome(options.subscription) && report.subscriptions.length === 0
          ? Effect.fail(new CliError({ message: `no subscription ${options.subscription.value}` }))
          : print(options.json, report, Status.render))
    )
).pipe(Command.withDescription("Per subscription: lag, oldest undelivered event, dead letters, checkpoints and leases"))

const list = Command.make(
  "list",
  {
    database,
    json,
    subscription: optionalText("subscription", "Only this subscription's"),
    aggregateType: optionalText("aggregate-type", "Only this aggregate type's"),
    aggregateId: optionalText("aggregate-id", "Only this aggregate's")
  },
  (options) =>
    withStores(
      options.database,
      Effect.gen(function*() {
        const letters = yield* DeadLetters.list({
          subscription: Option.getOrUndefined(options.subscription),
          aggregateType: Option.getOrUndefined(options.aggregateType),
          aggregateId: Option.getOrUndefined(options.aggregateId)
        })
        const now = yield* Clock.currentTimeMillis
        yield* print(options.json, letters, (l) => DeadLetters.renderList(l, now))
      })
    )
).pipe(Command.withDescription("List dead letters, by position"))

const id = Args.text({ name: "id" }).pipe(Args.withDescription("A dead letter's id (dead-letters list shows them)"))

const show = Command.make(
  "show",
  { database, json, id },
  (options) =>
    withStores(
      options.database,
      Effect.flatMap(DeadLetters.show(options.id), (shown) => print(options.json, shown, DeadLetters.renderShow))
    )
).pipe(Command.withDescription("A dead letter with its error and its event"))

const redrive = Command.make(
  "redrive",
  { database, json, id, wait: seconds("wait", 10, "How long to wait for a running relay to deliver") },
  (options) =>
    withStores(
      options.database,
      Effect.gen(function*() {
        const wait = Duration.seconds(options.wait)
        const result = yield* DeadLetters.redrive(options.id, wait)
        yield* print(options.json, result, (r) => DeadLetters.renderRedrive(r, wait))
        if (result.outcome === "failed") {
          return yield* new CliError({ message: `redrive of ${options.id} failed again` })
        }
      })
    )
).pipe(Command.withDescription(
  "Deliver a dead letter again, with the rest of its aggregate's sequence, in order (done by the relay holding the partition)"
))

const discard = Command.make(
  "discard",
  { database, json, id },
  (options) =>
    withStores(
      options.database,
      Effect.flatMap(
        DeadLetters.discard(options.id),
        (result) => print(options.json, result, DeadLetters.renderDiscard)
      )
    )
).pipe(Command.withDescription("Drop a dead letter without delivering it"))

const deadLetters = Command.make("dead-letters").pipe(
  Command.withDescription("List, show, redrive and discard dead letters"),
  Command.withSubcommands([list, show, redrive, discard])
)

const replay = Command.make(
  "replay",
  {
    database,
    json,
    subscription: Args.text({ name: "subscription" }).pipe(
      Args.withDescription("The subscription to replay (a projection)")
    ),
    from: Options.integer("from").pipe(
      Options.withDescription("Replay from the event at this position (default: the start of the log)"),
      Options.mapEffect((n) =>
        n >= 1
          ? Effect.succeed(n)
          : Effect.fail(ValidationError.invalidValue(HelpDoc.p("--from must be a position (1 or more)")))
      ),
      Options.optional
    ),
    force: Options.boolean("force").pipe(Options.withDescription("Replay a handler too (its effects happen again)")),
    detach: Options.boolean("detach").pipe(
      Options.withDescription("Return once the checkpoints are moved, without following")
    ),
    stallTimeout: seconds("stall-timeout", 30, "Stop following when nothing was delivered for this long")
  },
  (options) =>
    withStores(
      options.database,
      Effect.gen(function*() {
        const { info, rewound } = yield* Replay.rewind(options.subscription, options.from, options.force)
        if (!options.json) yield* Console.log(Replay.renderRewound(rewound))
        if (options.detach || rewound.backlog === 0) {
          if (options.json) yield* Output.json({ ...rewound, followed: null })
          return
        }
        const stall = Duration.seconds(options.stallTimeout)
        const interactive = process.stderr.isTTY === true
        let lastLine = 0
        const followed = yield* Replay.follow(info, rewound.backlog, stall, (progress) =>
          Effect.flatMap(Clock.currentTimeMillis, (now) => {
            if (options.json) {
              return Effect.void
            }
            if (interactive) {
              return Effect.sync(() =>
                process.stderr.write(`\r${Replay.renderProgress(progress)}\u001b[K`)
              )
            }
            if (now - lastLine < 2_000) {
              return Effect.void
            }
            lastLine = now
            return Console.error(Replay.renderProgress(progress))
          })).pipe(
            Effect.ensuring(Effect.sync(() => {
              if (interactive && !options.json) {
                process.stderr.write("\n")
              }
            })),
            Effect.onInterrupt(() =>
              Console.error(`stopped following: the relay goes on replaying ${options.subscription}`)
            )
          )
        yield* print(options.json, { ...rewound, followed }, () =>
          Replay.renderFollowed(options.subscription, followed, stall))
      })
    )
).pipe(Command.withDescription(
  "Deliver a subscription's events again from a position, to rebuild a projection; safe while relays run (they are fenced out)"
))

const prune = Command.make(
  "prune",
  {
    database,
    json,
    dryRun: Options.boolean("dry-run").pipe(Options.withDescription("Report what would be removed, remove nothing")),
    batchSize: Options.integer("batch-size").pipe(
      Options.withDescription("Rows per transaction (default 500)"),
      Options.withDefault(500),
      Options.mapEffect((n) =>
        n >= 1
          ? Effect.succeed(n)
          : Effect.fail(ValidationError.invalidValue(HelpDoc.p("--batch-size must be 1 or more")))
      )
    )
  },
  (options) =>
    withStores(
      options.database,
      Effect.flatMap(Prune.prune(options.dryRun, options.batchSize), (pruned) =>
        options.json ? Output.json(pruned) : Effect.flatMap(Prune.renderNow(pruned), Console.log))
    )
).pipe(Command.withDescription(
  "Remove delivered events, expired idempotency records and inbox rows, finished process instances (the recorded retention policy)"
))

const projectionName = (description: string) => Args.text({ name: "name" }).pipe(Args.withDescription(description))

const projectionsList = Command.make(
  "list",
  { database, json },
  (options) =>
    withStores(
      options.database,
      Effect.flatMap(Projections.list(), (l) => print(options.json, l, Projections.renderList))
    )
).pipe(Command.withDescription("Each projection's versions: which serves reads, which builds beside it"))

const projectionsStatus = Command.make(
  "status",
  { database, json, name: projectionName("Only this projection").pipe(Args.optional) },
  (options) =>
    withStores(
      options.database,
      Effect.flatMap(
        Projections.status(Option.getOrUndefined(options.name)),
        (s) => print(options.json, s, Projections.renderStatus)
      )
    )
).pipe(Command.withDescription("Per version in use: progress through the log, lag, checkpoint position, dead letters"))

const projectionsRebuild = Command.make(
  "rebuild",
  {
    database,
    json,
    name: projectionName("The projection to rebuild"),
    fromEarliestKept: Options.boolean("from-earliest-kept").pipe(
      Options.withDescription("Request it even though events it reads were pruned (it builds from what is kept)")
    )
  },
  (options) =>
    withStores(
      options.database,
      Effect.flatMap(
        Projections.rebuild(options.name, options.fromEarliestKept),
        (r) => print(options.json, r, Projections.renderRebuild)
      )
    )
).pipe(Command.withDescription(
  "Rebuild a projection's newest version from the start: a running relay drops and re-creates its tables and delivers it again"
))

const projections = Command.make("projections").pipe(
  Command.withDescription("Projections' versions: list them, follow a build, request a rebuild"),
  Command.withSubcommands([projectionsList, projectionsStatus, projectionsRebuild])
)

/** The root command. */
export const command = Command.make("effect-ddd").pipe(
  Command.withDescription(
    "Operate effect-ddd's event store and relay: migrations, lag, dead letters, replays, pruning, projections"
  ),
  Command.withSubcommands([migrate, status, deadLetters, replay, prune, projections])
)

/** Run the CLI on `process.argv`-style arguments. */
export const run = (version: string) => Command.run(command, { name: "effect-ddd", version, executable: "effect-ddd" })

/** The exit code of a failure, its one-line message printed on stderr (never a stack trace). */
const report = (cause: Cause.Cause<unknown>): Effect.Effect<number> => {
  if (Cause.isInterruptedOnly(cause)) return Effect.succeed(130)
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure)) {
    const error = failure.value
    // @effect/cli has printed what was wrong with the arguments, with the usage
    if (ValidationError.isValidationError(error)) return Effect.succeed(2)
    return Effect.as(Console.error(`effect-ddd: ${describe(error)}`), error instanceof CliError ? error.exitCode : 1)
  }
  return Effect.as(Console.error(`effect-ddd: unexpected error: ${describe(Cause.squash(cause))}`), 1)
}

/**
 * Run the CLI on `process.argv`-style arguments to its exit code: 0 done, 1 failed (a one-line
 * message on stderr), 2 bad arguments, 130 interrupted.
 */
export const exitCode = (version: string) => (argv: ReadonlyArray<string>) =>
  Effect.suspend(() => run(version)(argv)).pipe(
    Effect.matchCauseEffect({ onFailure: report, onSuccess: () => Effect.succeed(0) })
  )
