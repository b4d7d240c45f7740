/**
 * The example HTTP server (`npm start`): orders and inventory over HTTP, on SQLite under
 * `DATA_DIR` or on PostgreSQL at `DATABASE_URL`, listening on `PORT`. SIGINT or SIGTERM stop it
 * gracefully.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Layer } from "effect"
import { CommandHandler } from "effect-ddd"
import { FulfilmentLive } from "./Fulfilment.js"
import { HttpLive } from "./Http.js"
import { HealthLive, TelemetryLive } from "./Observability.js"
import { EventStoreLive } from "./Sql.js"

HttpLive.pipe(
  Layer.provide(HealthLive),
  Layer.provide(FulfilmentLive),
  Layer.provide(CommandHandler.layer()),
  Layer.provide(EventStoreLive),
  Layer.provide(TelemetryLive),
  Layer.launch,
  NodeRuntime.runMain
)
