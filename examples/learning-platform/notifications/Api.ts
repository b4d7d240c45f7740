/** The notifications service's HTTP contract: its copy of users' preferences, and the emails sent. */
import { HttpApi, HttpApiEndpoint, HttpApiGroup, HttpApiSchema } from "@effect/platform"
import { Schema } from "effect"
import * as ErrorBody from "../../http-server/ErrorBody.js"
import * as PlatformApi from "../shared/Api.js"

export const UserId = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(100))

export class PreferencesNotKnown extends Schema.TaggedError<PreferencesNotKnown>()("PreferencesNotKnown", {
  userId: Schema.String
}) {
  override get message() {
    return `the email preferences of user ${this.userId} are not known (yet)`
  }
}

export const PreferencesView = Schema.Struct({ userId: Schema.String, courseAnnouncements: Schema.Boolean })

export const Email = Schema.Struct({
  courseId: Schema.String,
  title: Schema.String,
  kind: Schema.Literal("course-published", "enrolled")
})

export const Emails = Schema.Struct({ studentId: Schema.String, emails: Schema.Array(Email) })

const userId = HttpApiSchema.param("userId", UserId)
const studentId = HttpApiSchema.param("studentId", UserId)

export class NotificationsApi extends HttpApiGroup.make("notifications")
  .add(
    HttpApiEndpoint.get("preferences")`/users/${userId}/email-preferences`
      .addSuccess(PreferencesView)
      .addError(ErrorBody.schema(PreferencesNotKnown, 404, "The user's preferences are not known (yet)"))
  )
  .add(HttpApiEndpoint.get("emails")`/students/${studentId}/emails`.addSuccess(Emails))
{}

export const Api = PlatformApi.make(
  HttpApi.make("notifications").add(NotificationsApi),
  "Notifications: emails to students"
)
