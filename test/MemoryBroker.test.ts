import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Layer, Stream } from "effect"
import { MemoryBroker, MessageBroker } from "effect-ddd"
import { Outage, suite } from "./contracts/BrokerContract.js"

const outage = Layer.effect(
  Outage,
  Effect.map(MemoryBroker.MemoryBroker, (broker) => ({
    start: broker.setAvailable(false),
    end: broker.setAvailable(true)
  }))
)

suite("memory", Layer.provideMerge(outage, MemoryBroker.layer()), { ackWait: "1 second" })
