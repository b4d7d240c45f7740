/**
 * PostgreSQL-only parts of the SQL adapter (import from `effect-ddd/sql/pg`; they need
 * `@effect/sql-pg`): the cross-process wake-up over LISTEN/NOTIFY. Kept apart from
 * `effect-ddd/sql` so that an application on SQLite never needs `@effect/sql-pg`, not even for
 * its type declarations.
 *
 * @since 0.1.0
 * @module
 */

export * as PgWakeup from "../PgWakeup.js"
