import { MemoryEventStore } from "effect-ddd"
import { suite } from "../contracts/FulfilmentContract.js"

suite("memory", MemoryEventStore.layer)
