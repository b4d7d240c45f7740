/**
 * Catch a breaking change to a published integration event contract before it ships. Each
 * version's samples are CloudEvents (structured JSON) written once with `write` and checked into
 * the repository, one directory per type and version:
 *
 *   <dir>/catalog.course-published/v1/generated-1.json
 *
 * `check` decodes every sample of a type, of every version, with what a consumer accepts today
 * (the current contract and its upcasters): a sample that no longer decodes, or a version that is
 * no longer accepted, fails the check and names the file. Samples are never rewritten: a sample
 * of a published version is a promise to the consumers already reading it.
 *
 * ```ts
 * it.effect("the course-published contract still reads every published version", () =>
 *   ContractSamples.check(CoursePublished, "test/contract-samples"))
 * ```
 *
 * @since 0.2.0
 * @module
 */
import type { Effect } from "effect"
import { Schema } from "effect"
import type * as IntegrationEvent from "../core/IntegrationEvent.js"
import * as internal from "./internal/contractSamples.js"

/**
 * One sample that does not decode any more.
 *
 * @since 0.2.0
 * @category models
 */
export const Failure = Schema.Struct({
  file: Schema.String,
  reason: Schema.Literal("Unreadable", "UnknownType", "UnsupportedVersion", "InvalidData", "UpcastFailed"),
  detail: Schema.String
})

/**
 * @since 0.2.0
 * @category models
 */
export type Failure = typeof Failure.Type

/**
 * The contract breaks consumers: the samples that fail (or `none` were found: a check that reads
 * nothing proves nothing).
 *
 * @since 0.2.0
 * @category errors
 */
export class ContractBroken extends Schema.TaggedError<ContractBroken>()("ContractBroken", {
  type: Schema.String,
  directory: Schema.String,
  failures: Schema.Array(Failure)
}) {
  override get message() {
    return this.failures.length === 0
      ? `${this.type}: no samples under ${this.directory} (write some with ContractSamples.write)`
      : `${this.type}: ${this.failures.length} sample(s) no longer decode:\n` +
        this.failures.map((f) => `  ${f.file}: ${f.reason}: ${f.detail}`).join("\n")
  }
}

/**
 * Reading or writing sample files failed.
 *
 * @since 0.2.0
 * @category errors
 */
export class SampleFileError extends Schema.TaggedError<SampleFileError>()("SampleFileError", {
  path: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `${this.path}: ${this.detail}`
  }
}

/**
 * What a passing check read: the number of samples per version.
 *
 * @since 0.2.0
 * @category models
 */
export interface Report {
  readonly type: string
  readonly samples: Readonly<Record<number, number>>
}

/**
 * Decode every sample of the accepted type with the current contract and its upcasters.
 *
 * @since 0.2.0
 * @category combinators
 */
export const check = <Type extends string, A>(
  accepting: IntegrationEvent.Accepting<Type, A>,
  directory: string
): Effect.Effect<Report, ContractBroken | SampleFileError> => internal.check(accepting, directory)

/**
 * The samples to write: given values, or `count` values generated from the schema (with
 * `Arbitrary`, repeatable with `seed`).
 *
 * @since 0.2.0
 * @category models
 */
export type Samples<A> =
  | ReadonlyArray<{ readonly name: string; readonly data: A }>
  | { readonly count: number; readonly seed?: number }

/**
 * Write samples of a contract version under `<directory>/<type>/v<version>/`; a file that exists is
 * left as it is. Returns the paths written.
 *
 * @since 0.2.0
 * @category constructors
 */
export const write = <Type extends string, Version extends number, A, I>(
  contract: IntegrationEvent.IntegrationEvent<Type, Version, A, I>,
  directory: string,
  samples: Samples<A>
): Effect.Effect<ReadonlyArray<string>, SampleFileError> => internal.write(contract, directory, samples)
