/**
 * HTTP-level test helpers (import from `effect-ddd/testing/http`; they need `@effect/platform`).
 *
 * @since 0.1.0
 * @module
 */

export * as ApiSpec from "./ApiSpec.js"
