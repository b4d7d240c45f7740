/**
 * HTTP-level test helpers (import from `effect-ddd/testing/http`; they need `@effect/platform`).
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as ApiSpec from "./ApiSpec.js"
