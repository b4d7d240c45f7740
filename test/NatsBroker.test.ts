import { Effect, Layer } from "effect"
import { NatsBroker } from "effect-ddd/nats"
import { Outage, suite } from "./contracts/BrokerContract.js"
import { natsServer, NatsServerService } from "./support/nats.js"

const broker = Layer.unwrapEffect(Effect.map(NatsServerService, (server) =>
  NatsBroker.layer({
    servers: server.url,
    stream: { partitions: 4 },
    requestTimeout: "2 seconds",
    reconnectWait: "100 millis"
  })))

const outage = Layer.effect(
  Outage,
  Effect.map(NatsServerService, (server) => ({
    start: Effect.promise(server.stop),
    end: Effect.promise(server.start)
  }))
)

suite("NATS JetStream", Layer.mergeAll(broker, outage).pipe(Layer.provideMerge(natsServer)), { ackWait: "1 second" })
