/** The catalog's HTTP contract: courses, their lessons, enrollments and publication. */
import { HttpApi, HttpApiEndpoint, HttpApiGroup, HttpApiSchema } from "@effect/platform"
import { Schema } from "effect"
import * as ErrorBody from "../../http-server/ErrorBody.js"
import { Json } from "../../http-server/HttpErrors.js"
import * as PlatformApi from "../shared/Api.js"
import {
  CourseAlreadyPublished,
  CourseHasNoLessons,
  CourseId,
  CourseNotFound,
  StudentAlreadyEnrolled,
  StudentId,
  Title
} from "./Course.js"

export const CourseView = Schema.Struct({
  courseId: Schema.String,
  title: Schema.String,
  status: Schema.Literal("draft", "published"),
  lessons: Schema.Int,
  students: Schema.Int
})
export type CourseView = typeof CourseView.Type

export const NewCourse = Schema.Struct({ title: Title }).annotations({
  ...PlatformApi.strict,
  description: "an object with a title of 1..200 characters"
})
export const NewLesson = Schema.Struct({ title: Title }).annotations({
  ...PlatformApi.strict,
  description: "an object with a title of 1..200 characters"
})
export const Enrollment = Schema.Struct({ studentId: StudentId }).annotations({
  ...PlatformApi.strict,
  description: "an object with a studentId of 1..100 characters"
})

const courseId = HttpApiSchema.param("courseId", CourseId)
const courseNotFound = ErrorBody.schema(CourseNotFound, 404, "No such course")
const bodyErrors = [Json.MalformedBody, Json.PayloadTooLarge, Json.UnsupportedMediaType] as const

export class CoursesApi extends HttpApiGroup.make("courses")
  .add(
    HttpApiEndpoint.post("create", "/courses")
      .setPayload(NewCourse)
      .addSuccess(CourseView, { status: 201 })
      .addError(bodyErrors[0])
      .addError(bodyErrors[1])
      .addError(bodyErrors[2])
  )
  .add(
    HttpApiEndpoint.post("addLesson")`/courses/${courseId}/lessons`
      .setPayload(NewLesson)
      .addSuccess(CourseView, { status: 201 })
      .addError(courseNotFound)
      .addError(bodyErrors[0])
      .addError(bodyErrors[1])
      .addError(bodyErrors[2])
  )
  .add(
    HttpApiEndpoint.post("enroll")`/courses/${courseId}/enrollments`
      .setPayload(Enrollment)
      .addSuccess(CourseView, { status: 201 })
      .addError(courseNotFound)
      .addError(ErrorBody.schema(StudentAlreadyEnrolled, 409, "The student is enrolled in this course already"))
      .addError(bodyErrors[0])
      .addError(bodyErrors[1])
      .addError(bodyErrors[2])
  )
  .add(
    HttpApiEndpoint.post("publish")`/courses/${courseId}/publish`
      .addSuccess(CourseView)
      .addError(courseNotFound)
      .addError(ErrorBody.schema(CourseHasNoLessons, 422, "A course needs a lesson to be published"))
      .addError(ErrorBody.schema(CourseAlreadyPublished, 409, "The course is published already"))
  )
  .add(
    HttpApiEndpoint.get("get")`/courses/${courseId}`
      .addSuccess(CourseView)
      .addError(courseNotFound)
  )
{}

export const Api = PlatformApi.make(HttpApi.make("catalog").add(CoursesApi), "Catalog: courses and enrollments")
