import { MemoryEventStore } from "effect-ddd"
import { memoryReadModel, suite } from "../contracts/ProjectionContract.js"

suite("memory", (retention) => MemoryEventStore.layerWith({ retention }), memoryReadModel)
