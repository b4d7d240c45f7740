import { MemoryEventStore } from "effect-ddd"
import { suite } from "../contracts/OutboxContract.js"

suite("memory", MemoryEventStore.layer)
