import { describe, expect, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { IntegrationEvent } from "effect-ddd"
import { ContractSamples } from "effect-ddd/testing"
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { CoursePublished, CoursePublishedV1 } from "../../examples/catalog-contracts.js"

const temp = () => mkdtempSync(join(tmpdir(), "effect-ddd-samples-"))

/** The contract under test, with the same type and version as CoursePublishedV1 but another schema. */
const v1With = <A, I>(schema: Schema.Schema<A, I>) =>
  IntegrationEvent.make({ type: "catalog.course-published", version: 1, schema })

/** The check's failure (a file error is a defect here). */
const broken = <A>(effect: Effect.Effect<A, ContractSamples.ContractBroken | ContractSamples.SampleFileError>) =>
  Effect.flip(Effect.catchTag(effect, "SampleFileError", Effect.die))

const failures = (error: ContractSamples.ContractBroken) =>
  error.failures.map((f) => [f.file.split("/").slice(-2).join("/"), f.reason])

describe("ContractSamples", () => {
  it.effect("the checked-in samples of every published version decode with today's contract", () =>
    Effect.gen(function*() {
      const report = yield* ContractSamples.check(CoursePublished, "examples/contract-samples")
      expect(report).toEqual({ type: "catalog.course-published", samples: { 1: 4, 2: 3 } })
    }))

  it.effect("write generates samples from the schema once, and never rewrites one", () =>
    Effect.gen(function*() {
      const dir = temp()
      const written = yield* ContractSamples.write(CoursePublishedV1, dir, { count: 3, seed: 42 })
      expect(written.map((f) => f.split("/").slice(-3).join("/"))).toEqual(
        [1, 2, 3].map((i) => `catalog.course-published/v1/generated-${i}.json`)
      )
      const sample = JSON.parse(readFileSync(written[0]!, "utf8"))
      expect(sample).toMatchObject({
        specversion: "1.0",
        type: "catalog.course-published.v1",
        source: "/contract-samples"
      })
      expect(Object.keys(sample.data).sort()).toEqual(["courseId", "title"])
      // the same seed, the same samples; existing files are left alone
      expect(yield* ContractSamples.write(CoursePublishedV1, dir, { count: 3, seed: 42 })).toEqual([])
      const other = temp()
      yield* ContractSamples.write(CoursePublishedV1, other, { count: 3, seed: 42 })
      expect(readFileSync(join(other, "catalog.course-published/v1/generated-1.json"), "utf8")).toBe(
        readFileSync(written[0]!, "utf8")
      )
      const named = yield* ContractSamples.write(CoursePublishedV1, dir, [{
        name: "intro",
        data: { courseId: "c", title: "t" }
      }])
      expect(named.length).toBe(1)
    }))

  it.effect("a breaking change to a published version is caught, naming each sample", () =>
    Effect.gen(function*() {
      const dir = temp()
      yield* ContractSamples.write(CoursePublishedV1, dir, [
        { name: "a", data: { courseId: "c-1", title: "Effect" } },
        { name: "b", data: { courseId: "c-2", title: "Go" } }
      ])
      // a new required field
      const required = v1With(Schema.Struct({ courseId: Schema.String, title: Schema.String, lessons: Schema.Number }))
      const error = yield* broken(ContractSamples.check(required, dir))
      expect(error._tag).toBe("ContractBroken")
      expect(failures(error)).toEqual([["v1/a.json", "InvalidData"], ["v1/b.json", "InvalidData"]])
      expect(error.message).toContain("lessons")
      // a renamed field
      const renamed = v1With(Schema.Struct({ id: Schema.String, title: Schema.String }))
      expect(failures(yield* broken(ContractSamples.check(renamed, dir))).length).toBe(2)
      // a narrower type
      const narrower = v1With(
        Schema.Struct({ courseId: Schema.String, title: Schema.String.pipe(Schema.maxLength(3)) })
      )
      expect(failures(yield* broken(ContractSamples.check(narrower, dir)))).toEqual([["v1/a.json", "InvalidData"]])
      // a compatible change: an optional field
      const optional = v1With(
        Schema.Struct({
          courseId: Schema.String,
          title: Schema.String,
          tags: Schema.optional(Schema.Array(Schema.String))
        })
      )
      expect(yield* ContractSamples.check(optional, dir)).toEqual({
        type: "catalog.course-published",
        samples: { 1: 2 }
      })
    }))

  it.effect("dropping an older version (no upcaster any more) is caught", () =>
    Effect.gen(function*() {
      const error = yield* broken(
        ContractSamples.check(
          IntegrationEvent.make({
            type: "catalog.course-published",
            version: 2,
            schema: Schema.Struct({ courseId: Schema.String, title: Schema.String, lessons: Schema.Int })
          }),
          "examples/contract-samples"
        )
      )
      expect(new Set(error.failures.map((f) => f.reason))).toEqual(new Set(["UnsupportedVersion"]))
      expect(error.failures.length).toBe(4)
    }))

  it.effect("a sample edited by hand into another type, or unreadable, is caught; no samples at all fails", () =>
    Effect.gen(function*() {
      const dir = temp()
      const [file] = yield* ContractSamples.write(CoursePublishedV1, dir, [{
        name: "a",
        data: { courseId: "c", title: "t" }
      }])
      writeFileSync(file!, readFileSync(file!, "utf8").replace("course-published.v1", "course-published.v2"))
      writeFileSync(join(dir, "catalog.course-published/v1/b.json"), "{ not json")
      const error = yield* broken(ContractSamples.check(CoursePublished, dir))
      expect(failures(error)).toEqual([["v1/a.json", "Unreadable"], ["v1/b.json", "Unreadable"]])
      const empty = yield* broken(ContractSamples.check(CoursePublished, temp()))
      expect([empty.failures, empty.message]).toEqual([[], expect.stringContaining("no samples")])
      expect(readdirSync(dir)).toEqual(["catalog.course-published"])
    }))
})
