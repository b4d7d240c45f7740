/** The discovery service: search and recommendations, two consumers each owning its tables. */
import * as Service from "../shared/Service.js"
import { Api } from "./Api.js"
import { DiscoveryLive } from "./Http.js"
import * as Recommendations from "./Recommendations.js"
import * as Search from "./Search.js"

Service.run({
  name: "discovery",
  api: Api,
  handlers: DiscoveryLive,
  consumers: [Search, Recommendations]
})
