/**
 * Test helpers (import from `effect-ddd/testing`).
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as AggregateLaws from "./AggregateLaws.js"
/** @since 0.1.0 */
export * as AggregateSpec from "./AggregateSpec.js"
/** @since 0.1.0 */
export * as ProcessManagerSpec from "./ProcessManagerSpec.js"
/** @since 0.1.0 */
export * as Simulation from "./Simulation.js"
