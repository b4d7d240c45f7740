/**
 * The producing side of `broker.latency` (started by `bench/broker.ts` with an IPC channel): on
 * `{ type: "publish", id }` it commits a command in its SQLite database and reports the time
 * right after the commit (`now()`, calibrated by ping/pong); the message reaches the broker
 * after that commit.
 *
 * - `PRODUCER_MODE=library`: `CommandHandler.execute(Course, id, "publish")`, published by the
 *   relay running the catalog's `Publication` (examples/course-publication.ts) through
 *   `NatsBroker`, all in this process.
 * - `PRODUCER_MODE=raw`: better-sqlite3 and `@nats-io/jetstream`: BEGIN; INSERT the event row;
 *   COMMIT; then, as an outbox relay does, SELECT the rows after the cursor, `js.publish` each
 *   with its message id and CloudEvents headers (awaiting the PubAck) and UPDATE the cursor.
 *
 * Env: PRODUCER_MODE, PRODUCER_DB (the SQLite file), NATS_URL, NATS_STREAM (the stream, its
 * subject prefix in lower case).
 */
import { SqliteClient } from "@effect/sql-sqlite-node"
import { jetstream } from "@nats-io/jetstream"
import { connect, headers as natsHeaders } from "@nats-io/transport-node"
import Database from "better-sqlite3"
import { Effect, Layer } from "effect"
import { CommandHandler, Relay, Telemetry } from "effect-ddd"
import { NatsBroker } from "effect-ddd/nats"
import { SqlEventStore } from "effect-ddd/sql"
import { Course, CourseId, publishCourses } from "../../examples/course-publication.js"

export type ProducerMessage =
  | { readonly type: "ready" }
  | { readonly type: "pong"; readonly t1: number; readonly t2: number }
  | { readonly type: "committed"; readonly id: string; readonly at: number }

export type ProducerRequest =
  | { readonly type: "ping"; readonly t1: number }
  | { readonly type: "publish"; readonly id: string }

const now = () => performance.timeOrigin + performance.now()

const env = (name: string) => {
  const value = process.env[name]
  if (value === undefined || process.send === undefined) {
    throw new Error("producerProcess.ts is started by bench/broker.ts")
  }
  return value
}
const mode = env("PRODUCER_MODE")
const file = env("PRODUCER_DB")
const url = env("NATS_URL")
const stream = env("NATS_STREAM")
const send = (message: ProducerMessage) => process.send!(message)
process.on("disconnect", () => process.exit(0))

/** Starts the producer; returns what publishes one message. */
const library = async (): Promise<(id: string) => Promise<void>> => {
  const layer = Relay.layer({ subscriptions: [publishCourses] }).pipe(
    Layer.provideMerge(CommandHandler.layer()),
    Layer.provideMerge(SqlEventStore.layer()),
    Layer.provideMerge(SqliteClient.layer({ filename: file })),
    Layer.provideMerge(
      NatsBroker.layer({ servers: url, stream: { name: stream, subjectPrefix: stream.toLowerCase() } })
    ),
    Layer.provideMerge(Telemetry.disabled)
  )
  let resolve: (publish: (id: string) => Promise<void>) => void = () => {}
  const promise = new Promise<(id: string) => Promise<void>>((r) => (resolve = r))
  Effect.runFork(Effect.scoped(Effect.gen(function*() {
    const context = yield* Layer.build(layer)
    resolve((id: string) =>
      Effect.runPromise(
        CommandHandler.execute(Course, CourseId.make(id), "publish", { title: "A course title", internal: false }).pipe(
          Effect.asVoid,
          Effect.provide(context)
        )
      )
    )
    return yield* Effect.never
  })))
  return promise
}

const raw = async (): Promise<(id: string) => Promise<void>> => {
  const db = new Database(file)
  db.pragma("journal_mode = WAL")
  db.exec(`CREATE TABLE events (position INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL UNIQUE,
    aggregate_id TEXT NOT NULL, payload TEXT NOT NULL, occurred_at BIGINT NOT NULL);
    CREATE TABLE checkpoints (name TEXT PRIMARY KEY, position INTEGER NOT NULL);
    INSERT INTO checkpoints VALUES ('publish', 0);`)
  const begin = db.prepare("BEGIN")
  const commit = db.prepare("COMMIT")
  const insert = db.prepare("INSERT INTO events (event_id, aggregate_id, payload, occurred_at) VALUES (?, ?, ?, ?)")
  const cursor = db.prepare("SELECT position FROM checkpoints WHERE name = 'publish'")
  const page = db.prepare("SELECT position, event_id, aggregate_id, payload FROM events WHERE position > ? LIMIT 100")
  const advance = db.prepare("UPDATE checkpoints SET position = ? WHERE name = 'publish'")
  // as the bench's other raw loops: `noAsyncTraces`, the library's default
  const nc = await connect({ servers: url, noAsyncTraces: true })
  const js = jetstream(nc)
  const prefix = stream.toLowerCase()
  let sequence = 0
  return async (id) => {
    begin.run()
    insert.run(`${id}-event`, id, JSON.stringify({ title: "A course title", internal: false }), Date.now())
    commit.run()
    send({ type: "committed", id, at: now() })
    const { position } = cursor.get() as { position: number }
    const rows = page.all(position) as Array<
      { position: number; event_id: string; aggregate_id: string; payload: string }
    >
    for (const row of rows) {
      const h = natsHeaders()
      h.set("ce-specversion", "1.0")
      h.set("ce-id", row.event_id)
      h.set("ce-source", "/catalog")
      h.set("ce-type", "catalog.course-published.v1")
      h.set("ce-subject", row.aggregate_id)
      h.set("ce-partitionkey", row.aggregate_id)
      h.set("content-type", "application/json")
      const { title } = JSON.parse(row.payload)
      const data = new TextEncoder().encode(JSON.stringify({ courseId: row.aggregate_id, title }))
      await js.publish(`${prefix}.${sequence++ % 8}.catalog.course-published.v1.${row.aggregate_id}`, data, {
        msgID: row.event_id,
        headers: h
      })
      advance.run(row.position)
    }
  }
}

const publish = await (mode === "raw" ? raw() : library())
let queue = Promise.resolve()
process.on("message", (message: ProducerRequest) => {
  if (message.type === "ping") send({ type: "pong", t1: message.t1, t2: now() })
  else {
    // one at a time, as they were asked for
    queue = queue.then(async () => {
      if (mode === "raw") return publish(message.id)
      await publish(message.id)
      send({ type: "committed", id: message.id, at: now() })
    })
  }
})
send({ type: "ready" })
