/** The discovery service's HTTP contract: search, and recommendations for a student. */
import { HttpApi, HttpApiEndpoint, HttpApiGroup, HttpApiSchema } from "@effect/platform"
import { Schema } from "effect"
import * as PlatformApi from "../shared/Api.js"

export const CourseSummary = Schema.Struct({ courseId: Schema.String, title: Schema.String })
export const Courses = Schema.Struct({ courses: Schema.Array(CourseSummary) })

export const SearchQuery = Schema.Struct({ q: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(200)) })

const studentId = HttpApiSchema.param("studentId", Schema.String.pipe(Schema.minLength(1), Schema.maxLength(100)))

export class DiscoveryApi extends HttpApiGroup.make("discovery")
  .add(HttpApiEndpoint.get("search", "/search").setUrlParams(SearchQuery).addSuccess(Courses))
  .add(HttpApiEndpoint.get("recommendations")`/students/${studentId}/recommendations`.addSuccess(Courses))
{}

export const Api = PlatformApi.make(
  HttpApi.make("discovery").add(DiscoveryApi),
  "Discovery: search and recommendations"
)
