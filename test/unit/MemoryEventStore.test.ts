import { MemoryEventStore } from "effect-ddd"
import { suite } from "../contracts/EventStoreContract.js"

suite("memory", MemoryEventStore.layer)
