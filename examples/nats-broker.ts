/**
 * The message broker on NATS JetStream, with every stream setting spelled out (these are the
 * defaults). A service that must start while the broker is down uses `startup: "background"`.
 */
import { NatsBroker } from "effect-ddd/nats"

export const BrokerLive = NatsBroker.layer({
  servers: process.env["NATS_URL"] ?? "nats://127.0.0.1:4222",
  stream: {
    name: "INTEGRATION",
    subjectPrefix: "integration",
    partitions: 8, // durables per per-key consumer; fixed for the life of the stream
    replicas: 1, // 3 on a cluster
    storage: "file",
    maxAge: "7 days", // how long a consumer may be down and still catch up
    duplicateWindow: "10 minutes" // republished ids inside it are dropped by the server
  },
  requestTimeout: "5 seconds",
  startup: "background"
})
