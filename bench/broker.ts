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
 * library alternating, each on a stream of its own. Every raw loop connects with `noAsyncTraces`,
 * as `NatsBroker` does by default; the Effect-based loops run with Effect's tracer off.
 *
 * - `broker.consume.nats`: `IntegrationConsumer` over `NatsBroker` (8 partitions, one durable
 *   each, one message in flight each) with the SQL stores on a SQLite file: each message decoded,
 *   its inbox row and the handler's row (an INSERT through the same client) in one transaction,
 *   then acknowledged; `BENCH_CONSUME_MESSAGES` (5,000) messages over 1,000 keys published
 *   beforehand, messages/s until the last is handled. Baseline: the same durables by hand, each
 *   consumed in a loop of BEGIN; INSERT inbox row; INSERT row; COMMIT (better-sqlite3); `ackAck`.
 *   Both wait for the broker's confirmation of each acknowledgement (the port promises it). What
 *   the baseline leaves out and the library's guarantees need: each message is validated as a
 *   CloudEvent and its data decoded with the contract's Schema (an undecodable one is
 *   dead-lettered and terminated, never applied), and the handler writes through `@effect/sql`'s
 *   client, the only way its write joins the transaction that holds the inbox row (the baseline's
 *   INSERT goes straight to better-sqlite3). The library commits concurrent messages together
 *   (group commit, a savepoint each); the baseline commits each message alone.
 * - `broker.consume.nats.vs-effect-sql`: the same library rounds against the raw loop written with
 *   Effect and `@effect/sql` (a `Stream` of each durable's messages, the two INSERTs as `sql`
 *   statements in `sql.withTransaction`, then `ackAck`), measured in the same rounds (the three in an
 *   order rotated each round).
 * - `broker.latency.p50` / `.p99`: from a command's commit in a producer process
 *   (`bench/support/producerProcess.ts`: the command handler, the relay running a `Publication`
 *   through `NatsBroker`, SQLite) to the commit of the consuming handler's transaction in this
 *   process (`IntegrationConsumer`, SQLite); one message at a time, 5 ms apart,
 *   `BENCH_BROKER_LATENCY_SAMPLES` (300) per round, two rounds. Baseline: a raw producer (commit
 *   the event row, then read it back, `js.publish` it and advance a cursor) and the raw consume
 *   loops above.
 */
import { SqlClient } from "@effect/sql"
import { SqliteClient } from "@effect/sql-sqlite-node"
import {
  AckPolicy,
  type ConsumerMessages,
  DeliverPolicy,
  jetstream,
  type JetStreamClient,
  type JetStreamManager,
  jetstreamManager,
  type JsMsg,
  StorageType
} from "@nats-io/jetstream"
import { connect, headers as natsHeaders, nanos } from "@nats-io/transport-node"
import Database from "better-sqlite3"
import { Context, Deferred, Effect, Either, Exit, Layer, Stream } from "effect"
import {
  CloudEvent,
  EventStore,
  IntegrationConsumer,
  IntegrationEvent,
  type MessageBroker,
  Telemetry
} from "effect-ddd"
import { NatsBroker } from "effect-ddd/nats"
import { SqlEventStore } from "effect-ddd/sql"
import { fork } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { CoursePublished, CoursePublishedV2 } from "../examples/catalog-contracts.js"
import { startNatsServer } from "../test/support/nats.js"
import { type Figure, figure, rotated } from "./report.js"
import type { ProducerMessage, ProducerRequest } from "./support/producerProcess.js"

/**
 * The raw loops' connection options: `noAsyncTraces`, as `NatsBroker` connects by default (nats.js
 * otherwise builds an `Error` per request, a publish's or an acknowledgement's, for a stack it shows
 * only on a timeout).
 */
const rawConnection = (url: string) => ({ servers: url, noAsyncTraces: true })

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
  const nc = await connect(rawConnection(url))
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
  Effect.runPromise(Effect.scoped(
    Effect.gen(function*() {
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
        Effect.timeoutFail({
          duration: "5 minutes",
          onTimeout: () => new Error("broker.consume.nats: not all handled")
        })
      )
      const rate = CONSUME_MESSAGES / ((performance.now() - start) / 1000)
      const n = (yield* sql<{ n: number }>`SELECT count(*) AS n FROM offered`)[0]?.n
      if (n !== CONSUME_MESSAGES) throw new Error(`broker.consume.nats: ${n} rows for ${CONSUME_MESSAGES} messages`)
      return rate
    }).pipe(
      // telemetry off: with `Telemetry.disabled`, and no span from the handler's statement either
      Effect.withTracerEnabled(false)
    )
  ))

/**
 * One partition's messages, consumed by hand as the library's durables are: a durable of its own
 * filtered to the partition, `max_ack_pending` 1 (so a key's messages stay in order), pulled 16 at
 * a time.
 */
const partitionMessages = async (
  jsm: JetStreamManager,
  js: JetStreamClient,
  stream: string,
  durable: string,
  partition: number
): Promise<ConsumerMessages> => {
  await jsm.consumers.add(stream, {
    durable_name: durable,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    filter_subject: `${stream.toLowerCase()}.${partition}.>`,
    max_ack_pending: 1
  })
  return (await js.consumers.get(stream, durable)).consume({ max_messages: 16 })
}

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
  const nc = await connect(rawConnection(url))
  try {
    const jsm = await jetstreamManager(nc)
    const js = jetstream(nc)
    let handled = 0
    const start = performance.now()
    let finish: () => void = () => {}
    const finished = new Promise<void>((resolve) => (finish = resolve))
    await Promise.all(Array.from({ length: PARTITIONS }, async (_, p) => {
      const messages = await partitionMessages(jsm, js, stream, `raw-p${p}`, p)
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

/**
 * The raw loop written with Effect and `@effect/sql`, as an application would write it without the
 * library: the same durables by hand, each consumed as a `Stream` of nats.js's messages, each
 * message's inbox row and row INSERTed with `sql` template statements in `sql.withTransaction`,
 * then `ackAck`ed.
 */
const consumeEffectSql = (url: string, stream: string, file: string) =>
  Effect.runPromise(Effect.scoped(
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql.unsafe("PRAGMA synchronous = NORMAL")
      yield* sql.unsafe(`CREATE TABLE inbox (consumer TEXT NOT NULL, event_id TEXT NOT NULL,
        processed_at BIGINT NOT NULL, PRIMARY KEY (consumer, event_id))`)
      yield* sql.unsafe(OFFERED)
      const nc = yield* Effect.acquireRelease(
        Effect.promise(() => connect(rawConnection(url))),
        (nc) => Effect.promise(() => nc.drain())
      )
      const jsm = yield* Effect.promise(() => jetstreamManager(nc))
      const js = jetstream(nc)
      let handled = 0
      const stops: Array<() => void> = []
      const stopAll = () => {
        for (const stop of stops) stop()
      }
      const handle = (m: JsMsg) =>
        Effect.gen(function*() {
          const id = m.headers!.get("ce-id")
          const data = JSON.parse(new TextDecoder().decode(m.data))
          yield* sql.withTransaction(Effect.gen(function*() {
            const first = yield* sql`INSERT INTO inbox (consumer, event_id, processed_at)
              VALUES (${"bench-effect"}, ${id}, ${Date.now()}) ON CONFLICT DO NOTHING RETURNING event_id`
            if (first.length > 0) {
              yield* sql`INSERT INTO offered (message_id, course_id, title, lessons)
                VALUES (${id}, ${data.courseId}, ${data.title}, ${data.lessons})`
            }
          }))
          yield* Effect.promise(() => m.ackAck())
          if (++handled === CONSUME_MESSAGES) stopAll()
        })
      const start = performance.now()
      yield* Effect.forEach(Array.from({ length: PARTITIONS }, (_, p) => p), (p) =>
        Effect.gen(function*() {
          const messages = yield* Effect.promise(() => partitionMessages(jsm, js, stream, `effect-p${p}`, p))
          stops.push(() => messages.stop())
          yield* Stream.fromAsyncIterable(messages, (e) => e).pipe(
            Stream.runForEach(handle),
            // a failed partition stops them all: the others' iterators would wait for a next message
            Effect.tapErrorCause(() => Effect.sync(stopAll))
          )
        }), { concurrency: "unbounded", discard: true }).pipe(
          Effect.timeoutFail({
            duration: "5 minutes",
            onTimeout: () => new Error("broker.consume.nats @effect/sql: not all handled")
          }),
          Effect.onInterrupt(() => Effect.sync(stopAll))
        )
      const rate = CONSUME_MESSAGES / ((performance.now() - start) / 1000)
      const n = (yield* sql<{ n: number }>`SELECT count(*) AS n FROM offered`)[0]?.n
      if (n !== CONSUME_MESSAGES) {
        throw new Error(`broker.consume.nats @effect/sql: ${n} rows for ${CONSUME_MESSAGES} messages`)
      }
      return rate
    }).pipe(
      Effect.provide(SqliteClient.layer({ filename: file })),
      // telemetry off, as for the library: no span per statement
      Effect.withTracerEnabled(false)
    )
  ))

/**
 * `broker.consume.nats` and `.vs-effect-sql`: the medians of `ROUNDS` rounds of the raw loop, the
 * library and the `@effect/sql` loop, in an order rotated each round, each on a stream of its own.
 */
export const runConsume = async (): Promise<ReadonlyArray<Figure>> => {
  const server = await startNatsServer()
  const dir = mkdtempSync(join(tmpdir(), "effect-ddd-bench-broker-"))
  console.error(`[bench] nats-server on ${server.url} (store ${server.storeDir})`)
  try {
    const libs: Array<number> = []
    const raws: Array<number> = []
    const effectSqls: Array<number> = []
    const runs = [
      async (round: number) => {
        await fill(server.url, `CONSUMERAW${round}`)
        raws.push(await consumeRaw(server.url, `CONSUMERAW${round}`, join(dir, `raw-${round}.db`)))
      },
      async (round: number) => {
        await fill(server.url, `CONSUMELIB${round}`)
        libs.push(await consumeLibrary(server.url, `CONSUMELIB${round}`, join(dir, `lib-${round}.db`)))
      },
      async (round: number) => {
        await fill(server.url, `CONSUMEEFFECT${round}`)
        effectSqls.push(await consumeEffectSql(server.url, `CONSUMEEFFECT${round}`, join(dir, `effect-${round}.db`)))
      }
    ]
    for (let round = 0; round < ROUNDS; round++) {
      for (const run of rotated(runs, round)) await run(round)
      log(
        `broker.consume.nats round ${round + 1}: library ${Math.round(libs.at(-1)!)}/s, raw ${
          Math.round(raws.at(-1)!)
        }/s, @effect/sql ${Math.round(effectSqls.at(-1)!)}/s`
      )
    }
    return [
      figure("broker.consume.nats", median(libs), "messages/s", median(raws), ">= 0.7x raw consume-write-ack"),
      figure(
        "broker.consume.nats.vs-effect-sql",
        median(libs),
        "messages/s",
        median(effectSqls),
        ">= 1.0x the same work with @effect/sql"
      )
    ]
  } finally {
    rmSync(dir, { recursive: true, force: true })
    await server.dispose()
  }
}

// --- broker.latency ----------------------------------------------------------------------------------

const LATENCY_SAMPLES = Number(process.env["BENCH_BROKER_LATENCY_SAMPLES"] ?? 300)
const LATENCY_WARMUP = 30
const here = dirname(fileURLToPath(import.meta.url))
const now = () => performance.timeOrigin + performance.now()

const percentile = (samples: ReadonlyArray<number>, p: number) => {
  const sorted = [...samples].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
}

/** Where a consumer's handler says which message its transaction applies (see `timedStore`). */
class Applying extends Context.Tag("bench/Applying")<Applying, { id?: string }>() {}

/**
 * The event store, but each transaction's effect sees an `Applying` slot of its own, and once the
 * transaction has committed, the id the handler put there is reported with the time.
 */
const timedStore = (committed: (id: string, at: number) => void) =>
  Layer.effect(
    EventStore.EventStore,
    Effect.map(EventStore.EventStore, (store) => ({
      ...store,
      withTransaction: <A, E, R>(self: Effect.Effect<A, E, R>) =>
        Effect.suspend(() => {
          const slot: { id?: string } = {}
          return Effect.tap(store.withTransaction(Effect.provideService(self, Applying, slot)), () => {
            if (slot.id !== undefined) committed(slot.id, now())
          })
        })
    }))
  )

/**
 * The consuming side in this process: `IntegrationConsumer` over `NatsBroker` on a SQLite file,
 * reporting each course id once its transaction has committed.
 */
const latencyConsumerLibrary = (
  url: string,
  stream: string,
  file: string,
  committed: (id: string, at: number) => void
) =>
  Effect.gen(function*() {
    const consumer = IntegrationConsumer.make({
      name: "bench-latency",
      events: [CoursePublished],
      handle: (received) =>
        Effect.flatMap(Applying, (slot) =>
          Effect.flatMap(SqlClient.SqlClient, (sql) =>
            sql`INSERT INTO offered (message_id, course_id, title, lessons)
              VALUES (${received.event.id}, ${received.data.courseId}, ${received.data.title}, ${received.data.lessons})`
              .pipe(Effect.andThen(() =>
                void (slot.id = received.data.courseId)
              ))))
    })
    const context = yield* Layer.build(
      SqlEventStore.layer().pipe(
        Layer.provideMerge(SqliteClient.layer({ filename: file })),
        Layer.provideMerge(Telemetry.disabled)
      )
    )
    const sql = Context.get(context, SqlClient.SqlClient)
    yield* sql.unsafe(OFFERED)
    const broker = yield* Layer.build(
      NatsBroker.layer({ servers: url, stream: { name: stream, subjectPrefix: stream.toLowerCase() } })
    )
    yield* Layer.build(
      IntegrationConsumer.layer([consumer]).pipe(
        Layer.provide(Layer.merge(timedStore(committed), Layer.succeed(Applying, {}))),
        Layer.provide(Layer.succeedContext(Context.merge(context, broker)))
      )
    )
  })

/** The raw consuming side: `consumeRaw`'s loops, reporting each course id after its COMMIT. */
const latencyConsumerRaw = (url: string, stream: string, file: string, committed: (id: string, at: number) => void) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const db = new Database(file)
      db.pragma("journal_mode = WAL")
      db.exec(`CREATE TABLE inbox (consumer TEXT NOT NULL, event_id TEXT NOT NULL, processed_at BIGINT NOT NULL,
        PRIMARY KEY (consumer, event_id)); ${OFFERED}`)
      const begin = db.prepare("BEGIN")
      const commit = db.prepare("COMMIT")
      const inbox = db.prepare(
        "INSERT INTO inbox (consumer, event_id, processed_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING RETURNING event_id"
      )
      const offer = db.prepare("INSERT INTO offered (message_id, course_id, title, lessons) VALUES (?, ?, ?, ?)")
      const nc = await connect(rawConnection(url))
      const jsm = await jetstreamManager(nc)
      const js = jetstream(nc)
      const prefix = stream.toLowerCase()
      await jsm.streams.add({
        name: stream,
        subjects: [`${prefix}.>`],
        storage: StorageType.File,
        duplicate_window: nanos(600_000)
      })
      const loops = await Promise.all(Array.from({ length: PARTITIONS }, async (_, p) => {
        const messages = await partitionMessages(jsm, js, stream, `raw-p${p}`, p)
        const done = (async () => {
          for await (const m of messages) {
            const id = m.headers!.get("ce-id")
            const data = JSON.parse(new TextDecoder().decode(m.data))
            begin.run()
            if (inbox.get("bench-raw", id, Date.now()) !== undefined) {
              offer.run(id, data.courseId, data.title, 0)
            }
            commit.run()
            committed(data.courseId, now())
            await m.ackAck()
          }
        })()
        return { messages, done }
      }))
      return { db, nc, loops }
    }),
    ({ db, loops, nc }) =>
      Effect.promise(async () => {
        for (const { messages } of loops) messages.stop()
        await Promise.all(loops.map((l) => l.done.catch(() => {})))
        await nc.drain()
        db.close()
      })
  )

/**
 * Commit-to-commit times (ms): the producer process commits a command, this process's consumer
 * commits the handler's write; one message at a time, 5 ms apart.
 */
const latency = (url: string, mode: "library" | "raw", stream: string, dir: string) =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const arrivals = new Map<string, (at: number) => void>()
    const early = new Map<string, number>()
    const handled = (id: string, at: number) => {
      const arrived = arrivals.get(id)
      if (arrived === undefined) early.set(id, at)
      else arrived(at)
    }
    if (mode === "library") yield* latencyConsumerLibrary(url, stream, join(dir, `${stream}-consumer.db`), handled)
    else yield* latencyConsumerRaw(url, stream, join(dir, `${stream}-consumer.db`), handled)
    const child = yield* Effect.acquireRelease(
      Effect.sync(() =>
        fork(join(here, "support", "producerProcess.ts"), [], {
          execArgv: ["--import", "tsx"],
          env: {
            ...process.env,
            PRODUCER_MODE: mode,
            PRODUCER_DB: join(dir, `${stream}-producer.db`),
            NATS_URL: url,
            NATS_STREAM: stream
          },
          stdio: ["ignore", "inherit", "inherit", "ipc"]
        })
      ),
      (child) => Effect.sync(() => child.kill("SIGTERM"))
    )
    const commits = new Map<string, (at: number) => void>()
    let pong: ((message: { t1: number; t2: number }) => void) | undefined
    const ready = Effect.async<void, Error>((resume) => {
      child.once("exit", (code) => resume(Effect.fail(new Error(`the producer process exited with ${code}`))))
      child.on("message", (message: ProducerMessage) => {
        if (message.type === "ready") resume(Effect.void)
        else if (message.type === "pong") pong?.(message)
        else commits.get(message.id)?.(message.at)
      })
    })
    yield* ready.pipe(Effect.timeoutFail({ duration: "60 seconds", onTimeout: () => new Error("no producer") }))
    // the child's clock minus ours: the ping with the shortest round trip, halfway
    let offset = 0
    let best = Infinity
    for (let i = 0; i < 50; i++) {
      const t1 = now()
      const answer = yield* Effect.async<{ t1: number; t2: number }>((resume) => {
        pong = (message) => resume(Effect.succeed(message))
        child.send({ type: "ping", t1 } satisfies ProducerRequest)
      })
      const t3 = now()
      if (t3 - t1 < best) {
        best = t3 - t1
        offset = answer.t2 - (t1 + t3) / 2
      }
    }
    const samples: Array<number> = []
    for (let i = 0; i < LATENCY_WARMUP + LATENCY_SAMPLES; i++) {
      const id = `lat-${i}`
      const committed = new Promise<number>((resolve) => commits.set(id, resolve))
      const arrival = new Promise<number>((resolve) => arrivals.set(id, resolve))
      child.send({ type: "publish", id } satisfies ProducerRequest)
      const [sent, at] = yield* Effect.promise(() =>
        Promise.all([committed, early.has(id) ? Promise.resolve(early.get(id)!) : arrival])
      ).pipe(
        Effect.timeoutFail({
          duration: "30 seconds",
          onTimeout: () => new Error(`broker.latency ${mode}: message ${i} not handled in 30 s`)
        })
      )
      if (i >= LATENCY_WARMUP) samples.push(Math.max(0, at - (sent - offset)))
      yield* Effect.sleep("5 millis")
    }
    log(`broker.latency ${mode}: clock offset ${offset.toFixed(3)} ms (round trip ${best.toFixed(3)} ms)`)
    return samples
  })))

/** `broker.latency.p50` / `.p99`: the library and the raw pair, two rounds each, alternating; samples pooled. */
export const runLatency = async (): Promise<ReadonlyArray<Figure>> => {
  const server = await startNatsServer()
  const dir = mkdtempSync(join(tmpdir(), "effect-ddd-bench-broker-"))
  console.error(`[bench] nats-server on ${server.url} (store ${server.storeDir})`)
  try {
    const lib: Array<number> = []
    const raw: Array<number> = []
    for (let round = 0; round < 2; round++) {
      raw.push(...(await latency(server.url, "raw", `LATRAW${round}`, dir)))
      lib.push(...(await latency(server.url, "library", `LATLIB${round}`, dir)))
    }
    const show = (s: ReadonlyArray<number>) =>
      `p50 ${percentile(s, 50).toFixed(2)} p90 ${percentile(s, 90).toFixed(2)} p99 ${percentile(s, 99).toFixed(2)} ms`
    log(`broker.latency: library ${show(lib)}; raw ${show(raw)}`)
    return [
      figure("broker.latency.p50", percentile(lib, 50), "ms", percentile(raw, 50), "<= 5 ms"),
      figure("broker.latency.p99", percentile(lib, 99), "ms", percentile(raw, 99), "<= 25 ms")
    ]
  } finally {
    rmSync(dir, { recursive: true, force: true })
    await server.dispose()
  }
}
