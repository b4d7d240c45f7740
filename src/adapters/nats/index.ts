/**
 * The NATS JetStream adapter of the message broker (import from `effect-ddd/nats`; needs the
 * `@nats-io/transport-node` and `@nats-io/jetstream` packages).
 *
 * @since 0.2.0
 * @module
 */

export * as NatsBroker from "./NatsBroker.js"
