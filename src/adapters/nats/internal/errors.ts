/**
 * nats.js failures as the port's typed errors.
 */
import { JetStreamApiError } from "@nats-io/jetstream"
import { errors } from "@nats-io/transport-node"
import { MessageBrokerError } from "../../../ports/MessageBroker.js"

const describe = (cause: unknown): string =>
  cause instanceof JetStreamApiError
    ? `${cause.message} (err_code ${cause.code})`
    : cause instanceof Error
    ? `${cause.name}: ${cause.message}`
    : String(cause)

/**
 * - a timeout: nothing is known (maybe stored, maybe not): `Timeout`
 * - a JetStream API error or an invalid argument: the request itself is refused: `Rejected`
 * - a closed connection, no responders (no stream captures the subject, or JetStream is not
 *   up): nothing was stored: `Unavailable`
 * - anything else: `Timeout`, the only reason that promises nothing.
 */
export const toBrokerError = (what: string) => (cause: unknown): MessageBrokerError => {
  const make = (reason: MessageBrokerError["reason"]) =>
    new MessageBrokerError({ reason, detail: `${what}: ${describe(cause)}`, cause })
  if (cause instanceof MessageBrokerError) return cause
  if (cause instanceof errors.TimeoutError) return make("Timeout")
  if (cause instanceof JetStreamApiError) return make("Rejected")
  if (cause instanceof errors.InvalidArgumentError || cause instanceof errors.InvalidSubjectError) {
    return make("Rejected")
  }
  if (
    cause instanceof errors.ClosedConnectionError ||
    cause instanceof errors.ConnectionError ||
    cause instanceof errors.DrainingConnectionError ||
    cause instanceof errors.NoRespondersError
  ) return make("Unavailable")
  if (cause instanceof Error && (cause.name === "JetStreamNotEnabled" || cause.name === "NoRespondersError")) {
    return make("Unavailable")
  }
  return make("Timeout")
}

export const isNotFound = (cause: unknown, code: number): boolean =>
  cause instanceof JetStreamApiError && cause.code === code
