import { MemoryEventStore } from "effect-ddd"
import { property } from "../contracts/FulfilmentProperty.js"

property("memory", MemoryEventStore.layer, 25)
