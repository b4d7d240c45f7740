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
import { jetstream, jetstreamManager, StorageType } from "@nats-io/jetstream"
import { connect, headers as natsHeaders, nanos } from "@nats-io/transport-node"
import { Effect } from "effect"
import type { MessageBroker } from "effect-ddd"
import { NatsBroker } from "effect-ddd/nats"
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
