/**
 * Sample files of integration event contracts: writing and checking.
 */
import { Arbitrary, Effect, Either, FastCheck } from "effect"
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises"
import { join } from "node:path"
import * as CloudEvent from "../../core/CloudEvent.js"
import * as IntegrationEvent from "../../core/IntegrationEvent.js"
import { ContractBroken, type Failure, type Report, SampleFileError, type Samples } from "../ContractSamples.js"

const io = <A>(path: string, run: () => Promise<A>) =>
  Effect.tryPromise({
    try: run,
    catch: (error) => new SampleFileError({ path, detail: error instanceof Error ? error.message : String(error) })
  })

const exists = (path: string) => io(path, () => readFile(path).then(() => true, () => false))

const list = (path: string) =>
  io(path, () =>
    readdir(path, { withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT") return []
      throw error
    }))

/** A fixed time, so that generated samples do not change from one run to the next. */
const SAMPLE_TIME = new Date("2024-01-01T00:00:00.000Z")

export const write = <Type extends string, Version extends number, A, I>(
  contract: IntegrationEvent.IntegrationEvent<Type, Version, A, I>,
  directory: string,
  samples: Samples<A>
) =>
  Effect.gen(function*() {
    const named: ReadonlyArray<{ readonly name: string; readonly data: A }> = isGenerated(samples)
      ? FastCheck.sample(Arbitrary.make(contract.schema), { numRuns: samples.count, seed: samples.seed ?? 1 })
        .map((data, i) => ({ name: `generated-${i + 1}`, data }))
      : samples
    const folder = join(directory, contract.type, `v${contract.version}`)
    yield* io(folder, () => mkdir(folder, { recursive: true }))
    const written: Array<string> = []
    for (const { data, name } of named) {
      const file = join(folder, `${name}.json`)
      if (yield* exists(file)) continue
      const json = yield* IntegrationEvent.encode(contract, data, {
        id: `sample-${name}`,
        source: "/contract-samples",
        time: SAMPLE_TIME
      }).pipe(
        Either.flatMap((event) => CloudEvent.toJson(event, 2)),
        Either.mapLeft((error) => new SampleFileError({ path: file, detail: error.message }))
      )
      yield* io(file, () => writeFile(file, json + "\n", { flag: "wx" }))
      written.push(file)
    }
    return written
  })

const isGenerated = <A>(samples: Samples<A>): samples is { readonly count: number; readonly seed?: number } =>
  !Array.isArray(samples)

const VERSION_DIR = /^v([1-9][0-9]*)$/

export const check = <Type extends string, A>(accepting: IntegrationEvent.Accepting<Type, A>, directory: string) =>
  Effect.gen(function*() {
    const root = join(directory, accepting.type)
    const failures: Array<Failure> = []
    const samples: Record<number, number> = {}
    for (const entry of yield* list(root)) {
      const match = VERSION_DIR.exec(entry.name)
      if (!entry.isDirectory() || match === null) continue
      const version = Number(match[1])
      const folder = join(root, entry.name)
      for (const sample of yield* list(folder)) {
        if (!sample.isFile() || !sample.name.endsWith(".json")) continue
        const file = join(folder, sample.name)
        samples[version] = (samples[version] ?? 0) + 1
        const text = yield* io(file, () => readFile(file, "utf8"))
        const event = CloudEvent.fromJson(text)
        if (Either.isLeft(event)) {
          failures.push({ file, reason: "Unreadable", detail: event.left.detail })
          continue
        }
        const expected = `${accepting.type}.v${version}`
        if (event.right.type !== expected) {
          failures.push({ file, reason: "Unreadable", detail: `its type is ${event.right.type}, not ${expected}` })
          continue
        }
        const decoded = IntegrationEvent.decode([accepting], event.right)
        if (Either.isLeft(decoded)) failures.push({ file, reason: decoded.left.reason, detail: decoded.left.detail })
      }
    }
    if (failures.length > 0 || Object.keys(samples).length === 0) {
      return yield* new ContractBroken({ type: accepting.type, directory, failures })
    }
    return { type: accepting.type, samples } satisfies Report
  })
