/**
 * Where event ids (and other ids the runtime needs) come from. The default draws UUIDv7s (time
 * ordered, random tail); tests swap in a deterministic sequence.
 *
 * @since 0.1.0
 * @module
 */
import { Context, Effect, Layer } from "effect"
import { v7 } from "uuid"

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  readonly next: Effect.Effect<string>
}

/**
 * A UUIDv7 generator (from the `uuid` package).
 *
 * @since 0.1.0
 * @category constructors
 */
export const uuidV7: Service = { next: Effect.sync(() => v7()) }

/**
 * Deterministic, ordered ids in the UUIDv7 layout: `00000000-0000-7000-8000-000000000001`, ...
 *
 * @since 0.1.0
 * @category constructors
 */
export const sequential = (): Service => {
  let counter = 0
  return {
    next: Effect.sync(() => `00000000-0000-7000-8000-${(++counter).toString(16).padStart(12, "0")}`)
  }
}

/**
 * The id generator service; defaults to UUIDv7 when nothing is provided.
 *
 * @since 0.1.0
 * @category tags
 */
export class IdGenerator extends Context.Reference<IdGenerator>()("effect-ddd/IdGenerator", {
  defaultValue: (): Service => uuidV7
}) {}

/**
 * @since 0.1.0
 * @category layers
 */
export const layerSequential: Layer.Layer<never> = Layer.sync(IdGenerator, sequential)

/**
 * @since 0.1.0
 * @category combinators
 */
export const next: Effect.Effect<string> = Effect.flatMap(IdGenerator, (ids) => ids.next)
