/**
 * Test helpers (import from `effect-ddd/testing`).
 *
 * @since 0.1.0
 * @module
 */

export * as AggregateLaws from "./AggregateLaws.js"
export * as AggregateSpec from "./AggregateSpec.js"
export * as ContractSamples from "./ContractSamples.js"
export * as ProcessManagerSpec from "./ProcessManagerSpec.js"
export * as Simulation from "./Simulation.js"
