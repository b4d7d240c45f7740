/**
 * The catalog service: courses over HTTP, their enrollments and publication published to the
 * broker (`npm run start:platform` starts it with the other services).
 */
import * as Service from "../shared/Service.js"
import { Api } from "./Api.js"
import { CoursesLive } from "./Http.js"
import { publishCourses } from "./Publication.js"

Service.run({ name: "catalog", api: Api, handlers: CoursesLive, publications: [publishCourses] })
