/**
 * effect-ddd: pure aggregates, a transactional outbox and typed, eventually consistent
 * subscribers on Effect.
 *
 * @since 0.1.0
 * @module
 */

export * as Aggregate from "./Aggregate.js"
export * as CommandHandler from "./CommandHandler.js"
export * as CommitSignal from "./CommitSignal.js"
export * as DomainEvent from "./DomainEvent.js"
export * as EventStore from "./EventStore.js"
export * as Health from "./Health.js"
export * as IdGenerator from "./IdGenerator.js"
export * as Inbox from "./Inbox.js"
export * as MemoryEventStore from "./memory/MemoryEventStore.js"
export * as Outbox from "./Outbox.js"
export * as ProcessManager from "./ProcessManager.js"
export * as Relay from "./Relay.js"
export * as Subscription from "./Subscription.js"
export * as Telemetry from "./Telemetry.js"
