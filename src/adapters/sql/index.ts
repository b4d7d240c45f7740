/**
 * SQL adapters (import from `effect-ddd/sql`): SQLite and PostgreSQL over `@effect/sql`.
 *
 * @since 0.1.0
 * @module
 */

export * as Migrations from "./migrations.js"
export * as PgWakeup from "./PgWakeup.js"
export * as PreparedStatements from "./PreparedStatements.js"
export * as SqlEventStore from "./SqlEventStore.js"
