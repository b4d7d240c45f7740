/**
 * SQL adapters (import from `effect-ddd/sql`): SQLite and PostgreSQL over `@effect/sql`. The
 * PostgreSQL-only cross-process wake-up is in `effect-ddd/sql/pg`.
 *
 * @since 0.1.0
 * @module
 */

export * as Migrations from "./migrations.js"
export * as PreparedStatements from "./PreparedStatements.js"
export * as SqlEventStore from "./SqlEventStore.js"
