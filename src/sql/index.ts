/**
 * SQL adapters (import from `effect-ddd/sql`): SQLite and PostgreSQL over `@effect/sql`.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as Migrations from "./migrations.js"
/** @since 0.1.0 */
export * as PgWakeup from "./PgWakeup.js"
/** @since 0.1.0 */
export * as SqlEventStore from "./SqlEventStore.js"
/** @since 0.1.0 */
export * as SqlOutbox from "./SqlOutbox.js"
