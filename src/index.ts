/**
 * effect-ddd: pure aggregates, a transactional outbox and typed, eventually consistent
 * subscribers on Effect.
 *
 * @since 0.1.0
 * @module
 */

export * as MemoryBroker from "./adapters/memory/MemoryBroker.js"
export * as MemoryEventStore from "./adapters/memory/MemoryEventStore.js"
export * as Aggregate from "./core/Aggregate.js"
export * as CloudEvent from "./core/CloudEvent.js"
export * as DomainEvent from "./core/DomainEvent.js"
export * as IntegrationEvent from "./core/IntegrationEvent.js"
export * as ProcessManager from "./core/ProcessManager.js"
export * as Subscription from "./core/Subscription.js"
export * as Health from "./operations/Health.js"
export * as Telemetry from "./operations/Telemetry.js"
export * as Checkpoints from "./ports/Checkpoints.js"
export * as DeadLetters from "./ports/DeadLetters.js"
export * as Deadlines from "./ports/Deadlines.js"
export * as EventStore from "./ports/EventStore.js"
export * as IdGenerator from "./ports/IdGenerator.js"
export * as Inbox from "./ports/Inbox.js"
export * as MessageBroker from "./ports/MessageBroker.js"
export * as ProjectionVersions from "./ports/ProjectionVersions.js"
export * as Pruning from "./ports/Pruning.js"
export * as Retention from "./ports/Retention.js"
export * as Stores from "./ports/Stores.js"
export * as SubscriptionRegistry from "./ports/SubscriptionRegistry.js"
export * as CommandHandler from "./runtime/CommandHandler.js"
export * as IntegrationConsumer from "./runtime/IntegrationConsumer.js"
export * as Pruner from "./runtime/Pruner.js"
export * as Publication from "./runtime/Publication.js"
export * as Relay from "./runtime/Relay.js"
