/**
 * Message broker benchmarks on a throwaway nats-server (test/support/nats.ts: `-js`, file
 * storage, 127.0.0.1), each beside a raw `@nats-io/jetstream` loop doing the same work in the
 * same run.
 *
 * - `broker.publish.nats`: `MessageBroker.publish` of batches of 100 messages (100 partition keys
 *   per batch, as a relay page spread over aggregates), each waiting for its PubAck, with a
 *   `Nats-Msg-Id` and CloudEvents-sized headers. Baseline: `js.publish` of the same messages (a
 *   fresh `headers()` and a `msgID` each), one `Promise.all` per batch.
 * - `broker.publish.nats.keys10`: the same batches over 10 keys: the adapter sends a key's
 *   messages one after the other (the per-key order guarantee), keys concurrently. Baseline: the
 *   same sequencing by hand.
 *
 * Each figure is the median of `BENCH_ROUNDS` (3) rounds of `BENCH_SECONDS` (3) seconds, raw and
 * library alternating, each on a stream of its own.
 *
 * To come with the outbox publication and the inbox consumer: `broker.consume.nats` (JetStream ->
 * handler + inbox write in SQLite, beside a raw consume-write-ack loop) and `broker.latency`
 * (p50/p99 from a command's commit in one process to the consuming handler's commit in another).
 * They belong here, as further groups of `suites` below (`runConsume`, `runLatency`), measured on
 * the same server.
 */
import { SqlClient } from "@effect/sql"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, StorageType } from "@nats-io/jetstream"
import { connect, headers as natsHeaders, nanos } from "@nats-io/transport-node"
import Database from "better-sqlite3"
import { Context, Deferred, Effect, Either, Exit, Layer } from "effect"
import { CloudEvent, IntegrationConsumer, IntegrationEvent, type MessageBroker, Telemetry } from "effect-ddd"
import { NatsBroker } from "effect-ddd/nats"
import { SqlEventStore } from "effect-ddd/sql"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { CoursePublished, CoursePublishedV2 } from "../examples/catalog-contracts.js"
import { startNatsServer } from "../test/support/nats.js"
import { type Figure, figure } from "./report.js"

const SECONDS = Number(process.env["BENCH_SECONDS"] ?? 3)
const ROUNDS = Number(process.env["BENCH_ROUNDS"] ?? 3)
const BATCH = 100
const median = (values: ReadonlyArray<number>) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!
const log = (message: string) => console.error(`  ${message}`)

const payload = new TextEncoder().encode(JSON.stringify({ courseId: "c-000001", title: "A course title", lessons: 12 }))
const headersFor = (id: string, key: string) => ({
  "ce-specversion": "1.0",
  "ce-id": id,
  "ce-source": "/catalog",
  "ce-type": "catalog.course-published.v1",
  "ce-subject": key,
  "ce-partitionkey": key,
  "content-type": "application/json"
})

/** The `round`-th batch: ids unique across the run, keys `key-0` .. `key-<keys - 1>`. */
const batchOf = (run: string, round: number, keys: number): Array<MessageBroker.OutgoingMessage> =>
  Array.from({ length: BATCH }, (_, i) => {
    const id = `${run}-${round}-${i}`
    const key = `key-${i % keys}`
    return { id, subject: "catalog.course-published.v1", partitionKey: key, headers: headersFor(id, key), payload }
  })

/** Publishes batches for SECONDS; messages/s. */
const timed = async (publishBatch: (round: number) => Promise<void>) => {
  for (let i = 0; i < 5; i++) await publishBatch(-1 - i) // warm-up
  let count = 0
  const start = performance.now()
  const end = start + SECONDS * 1000
  for (let round = 0; performance.now() < end; round++) {
    await publishBatch(round)
    count += BATCH
  }
  return count / ((performance.now() - start) / 1000)
}

const library = (url: string, stream: string, keys: number) =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const broker = yield* NatsBroker.make({
      servers: url,
      stream: { name: stream, subjectPrefix: stream.toLowerCase() }
    })
    return yield* Effect.promise(() =>
      timed((round) => Effect.runPromise(Effect.asVoid(Effect.orDie(broker.publish(batchOf(stream, round, keys))))))
    )
  })))

const raw = async (url: string, stream: string, keys: number) => {
  const nc = await connect({ servers: url })
  try {
    const jsm = await jetstreamManager(nc)
    const prefix = stream.toLowerCase()
    await jsm.streams.add({
      name: stream,
      subjects: [`${prefix}.>`],
      storage: StorageType.File,
      duplicate_window: nanos(600_000)
    })
    const js = jetstream(nc)
    const send = (m: MessageBroker.OutgoingMessage) => {
      const h = natsHeaders()
      for (const [name, value] of Object.entries(m.headers)) h.set(name, value)
      return js.publish(`${prefix}.0.${m.subject}.${m.partitionKey}`, m.payload, { msgID: m.id, headers: h })
    }
    return await timed(async (round) => {
      const batch = batchOf(stream, round, keys)
      if (keys === BATCH) {
        await Promise.all(batch.map(send))
        return
      }
      const byKey = new Map<string, Array<MessageBroker.OutgoingMessage>>()
      for (const m of batch) byKey.set(m.partitionKey, [...(byKey.get(m.partitionKey) ?? []), m])
      await Promise.all([...byKey.values()].map(async (chain) => {
        for (const m of chain) await send(m)
      }))
    })
  } finally {
    await nc.drain()
  }
}

export const runPublish = async (): Promise<ReadonlyArray<Figure>> => {
  const server = await startNatsServer()
  console.error(`[bench] nats-server on ${server.url} (store ${server.storeDir})`)
  try {
    const figures: Array<Figure> = []
    for (const [name, keys] of [["broker.publish.nats", 100], ["broker.publish.nats.keys10", 10]] as const) {
      const libs: Array<number> = []
      const raws: Array<number> = []
      for (let round = 0; round < ROUNDS; round++) {
        raws.push(await raw(server.url, `RAW${keys}R${round}`, keys))
        libs.push(await library(server.url, `LIB${keys}R${round}`, keys))
        log(`${name} round ${round + 1}: library ${Math.round(libs.at(-1)!)}/s, raw ${Math.round(raws.at(-1)!)}/s`)
      }
      figures.push(figure(name, median(libs), "messages/s", median(raws), ">= 0.7x raw publish with acks"))
    }
    return figures
  } finally {
    await server.dispose()
  }
}

// --- broker.consume.nats ---------------------------------------------------------------------------

const CONSUME_MESSAGES = Number(process.env["BENCH_CONSUME_MESSAGES"] ?? 5000)
const CONSUME_KEYS = 1000
/** The partitions of the stream (NatsBroker's default): one durable each, one message in flight each. */
const PARTITIONS = 8

/** `count` CloudEvents of the catalog's `course-published` v2 contract, over `CONSUME_KEYS` keys. */
const courseMessages = (run: string, count: number): Array<MessageBroker.OutgoingMessage> =>
  Array.from({ length: count }, (_, i) => {
    const courseId = `course-${i % CONSUME_KEYS}`
    const id = `${run}-${i}`
    const event = Either.getOrThrow(IntegrationEvent.encode(CoursePublishedV2, {
      courseId,
      title: "A course title",
      lessons: 12
    }, { id, source: "/catalog", subject: courseId, partitionkey: courseId }))
    const { headers, payload } = Either.getOrThrow(CloudEvent.toBinary(event))
    return { id, subject: event.type, partitionKey: courseId, headers, payload }
  })

/** The handler's table, in the library's database and the raw loop's. */
const OFFERED = `CREATE TABLE offered (message_id TEXT PRIMARY KEY, course_id TEXT NOT NULL, title TEXT NOT NULL,
  lessons INTEGER NOT NULL)`

/** A stream of its own, filled with `CONSUME_MESSAGES` messages through the library's publisher. */
const fill = (url: string, stream: string) =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const broker = yield* NatsBroker.make({
      servers: url,
      stream: { name: stream, subjectPrefix: stream.toLowerCase() }
    })
    const messages = courseMessages(stream, CONSUME_MESSAGES)
    for (let i = 0; i < messages.length; i += BATCH) yield* broker.publish(messages.slice(i, i + BATCH))
  })))

/**
 * The library: `IntegrationConsumer` over `NatsBroker` with the SQL stores on a SQLite file; the
 * handler inserts a row through the same client, inside the consumer's transaction. Messages/s from
 * the layer's start until every message is handled.
 */
const consumeLibrary = (url: string, stream: string, file: string) =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    let handled = 0
    const done = yield* Deferred.make<void>()
    const consumer = IntegrationConsumer.make({
      name: "bench-library",
      events: [CoursePublished],
      handle: (received) =>
        Effect.flatMap(SqlClient.SqlClient, (sql) =>
          sql`INSERT INTO offered (message_id, course_id, title, lessons)
            VALUES (${received.event.id}, ${received.data.courseId}, ${received.data.title}, ${received.data.lessons})`
            .pipe(
              Effect.andThen(() => {
                if (++handled === CONSUME_MESSAGES) Deferred.unsafeDone(done, Exit.void)
              })
            ))
    })
    const stores = SqlEventStore.layer().pipe(
      Layer.provideMerge(SqliteClient.layer({ filename: file })),
      Layer.provideMerge(Telemetry.disabled)
    )
    const context = yield* Layer.build(stores)
    const sql = Context.get(context, SqlClient.SqlClient)
    yield* sql.unsafe("PRAGMA synchronous = NORMAL")
    yield* sql.unsafe(OFFERED)
    const broker = yield* Layer.build(
      NatsBroker.layer({ servers: url, stream: { name: stream, subjectPrefix: stream.toLowerCase() } })
    )
    const start = performance.now()
    yield* Layer.build(
      IntegrationConsumer.layer([consumer]).pipe(
        Layer.provide(Layer.succeedContext(Context.merge(context, broker)))
      )
    )
    yield* Deferred.await(done).pipe(
      Effect.timeoutFail({ duration: "5 minutes", onTimeout: () => new Error("broker.consume.nats: not all handled") })
    )
    const rate = CONSUME_MESSAGES / ((performance.now() - start) / 1000)
    const n = (yield* sql<{ n: number }>`SELECT count(*) AS n FROM offered`)[0]?.n
    if (n !== CONSUME_MESSAGES) throw new Error(`broker.consume.nats: ${n} rows for ${CONSUME_MESSAGES} messages`)
    return rate
  })))

/**
 * The raw loop: the library's durables by hand (one per partition, `max_ack_pending` 1, so a
 * key's messages stay in order), each consumed in a loop that for each message reads the
 * CloudEvent id and data, runs BEGIN; INSERT inbox row; INSERT the handler's row; COMMIT with
 * better-sqlite3, then `ackAck`s it.
 */
const consumeRaw = async (url: string, stream: string, file: string) => {
  const db = new Database(file)
  db.pragma("journal_mode = WAL")
  db.pragma("synchronous = NORMAL")
  db.exec(`CREATE TABLE inbox (consumer TEXT NOT NULL, event_id TEXT NOT NULL, processed_at BIGINT NOT NULL,
    PRIMARY KEY (consumer, event_id)); ${OFFERED}`)
  const begin = db.prepare("BEGIN")
  const commit = db.prepare("COMMIT")
  const inbox = db.prepare(
    "INSERT INTO inbox (consumer, event_id, processed_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING RETURNING event_id"
  )
  const offer = db.prepare("INSERT INTO offered (message_id, course_id, title, lessons) VALUES (?, ?, ?, ?)")
  const nc = await connect({ servers: url })
  try {
    const jsm = await jetstreamManager(nc)
    const js = jetstream(nc)
    const prefix = stream.toLowerCase()
    let handled = 0
    const start = performance.now()
    let finish: () => void = () => {}
    const finished = new Promise<void>((resolve) => (finish = resolve))
    await Promise.all(Array.from({ length: PARTITIONS }, async (_, p) => {
      await jsm.consumers.add(stream, {
        durable_name: `raw-p${p}`,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        filter_subject: `${prefix}.${p}.>`,
        max_ack_pending: 1
      })
      const consumer = await js.consumers.get(stream, `raw-p${p}`)
      const messages = await consumer.consume({ max_messages: 16 })
      void finished.then(() => messages.stop())
      for await (const m of messages) {
        const id = m.headers!.get("ce-id")
        const data = JSON.parse(new TextDecoder().decode(m.data))
        begin.run()
        if (inbox.get("bench-raw", id, Date.now()) !== undefined) {
          offer.run(id, data.courseId, data.title, data.lessons)
        }
        commit.run()
        await m.ackAck()
        if (++handled === CONSUME_MESSAGES) finish()
      }
    }))
    const rate = CONSUME_MESSAGES / ((performance.now() - start) / 1000)
    const { n } = db.prepare("SELECT count(*) AS n FROM offered").get() as { n: number }
    if (n !== CONSUME_MESSAGES) throw new Error(`broker.consume.nats raw: ${n} rows for ${CONSUME_MESSAGES} messages`)
    return rate
  } finally {
    await nc.drain()
    db.close()
  }
}

/** `broker.consume.nats`: the median of `ROUNDS` rounds, raw and library alternating, each on a stream of its own. */
export const runConsume = async (): Promise<ReadonlyArray<Figure>> => {
  const server = await startNatsServer()
  const dir = mkdtempSync(join(tmpdir(), "effect-ddd-bench-broker-"))
  console.error(`[bench] nats-server on ${server.url} (store ${server.storeDir})`)
  try {
    const libs: Array<number> = []
    const raws: Array<number> = []
    for (let round = 0; round < ROUNDS; round++) {
      await fill(server.url, `CONSUMERAW${round}`)
      raws.push(await consumeRaw(server.url, `CONSUMERAW${round}`, join(dir, `raw-${round}.db`)))
      await fill(server.url, `CONSUMELIB${round}`)
      libs.push(await consumeLibrary(server.url, `CONSUMELIB${round}`, join(dir, `lib-${round}.db`)))
      log(
        `broker.consume.nats round ${round + 1}: library ${Math.round(libs.at(-1)!)}/s, raw ${
          Math.round(raws.at(-1)!)
        }/s`
      )
    }
    return [figure("broker.consume.nats", median(libs), "messages/s", median(raws), ">= 0.7x raw consume-write-ack")]
  } finally {
    rmSync(dir, { recursive: true, force: true })
    await server.dispose()
  }
}
