import { MemoryEventStore } from "effect-ddd"
import { suite } from "../contracts/PruningContract.js"

suite("memory", (retention) => MemoryEventStore.layerWith({ retention }))
