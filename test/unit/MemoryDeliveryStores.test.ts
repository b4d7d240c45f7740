import { MemoryEventStore } from "effect-ddd"
import { suite } from "../contracts/DeliveryStoresContract.js"

suite("memory", MemoryEventStore.layer)
