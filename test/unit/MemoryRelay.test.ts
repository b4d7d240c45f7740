import { MemoryEventStore } from "effect-ddd"
import { suite } from "../contracts/RelayContract.js"

suite("memory", MemoryEventStore.layer)
