/** The discovery service's handlers: reads of the search and recommendation tables. */
import { HttpApiBuilder } from "@effect/platform"
import { Effect } from "effect"
import * as PlatformApi from "../shared/Api.js"
import { Api } from "./Api.js"
import * as Recommendations from "./Recommendations.js"
import * as Search from "./Search.js"

export const DiscoveryLive = HttpApiBuilder.group(Api, "discovery", (handlers) =>
  handlers
    .handle("search", ({ urlParams }) =>
      Search.search(urlParams.q).pipe(PlatformApi.readModel, Effect.map((courses) => ({ courses }))))
    .handle("recommendations", ({ path }) =>
      Recommendations.recommendedFor(path.studentId).pipe(
        PlatformApi.readModel,
        Effect.map((courses) => ({ courses }))
      )))
