/**
 * effect-ddd: pure aggregates, a transactional outbox and typed, eventually consistent
 * subscribers on Effect.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as Aggregate from "./Aggregate.js"
/** @since 0.1.0 */
export * as CommandHandler from "./CommandHandler.js"
/** @since 0.1.0 */
export * as DomainEvent from "./DomainEvent.js"
/** @since 0.1.0 */
export * as EventStore from "./EventStore.js"
/** @since 0.1.0 */
export * as Health from "./Health.js"
/** @since 0.1.0 */
export * as IdGenerator from "./IdGenerator.js"
/** @since 0.1.0 */
export * as Inbox from "./Inbox.js"
/** @since 0.1.0 */
export * as MemoryEventStore from "./memory/MemoryEventStore.js"
/** @since 0.1.0 */
export * as CommitSignal from "./CommitSignal.js"
/** @since 0.1.0 */
export * as Outbox from "./Outbox.js"
/** @since 0.1.0 */
export * as ProcessManager from "./ProcessManager.js"
/** @since 0.1.0 */
export * as Relay from "./Relay.js"
/** @since 0.1.0 */
export * as Subscription from "./Subscription.js"
/** @since 0.1.0 */
export * as Telemetry from "./Telemetry.js"
