/** The accounts service's HTTP contract: users' email preferences. */
import { HttpApi, HttpApiEndpoint, HttpApiGroup, HttpApiSchema } from "@effect/platform"
import { Schema } from "effect"
import * as ErrorBody from "../../http-server/ErrorBody.js"
import { Json } from "../../http-server/HttpErrors.js"
import * as PlatformApi from "../shared/Api.js"
import { PreferencesNotFound, UserId } from "./EmailPreferences.js"

export const SetPreferences = Schema.Struct({ courseAnnouncements: Schema.Boolean }).annotations({
  ...PlatformApi.strict,
  description: "an object with courseAnnouncements, a boolean"
})

export const PreferencesView = Schema.Struct({ userId: Schema.String, courseAnnouncements: Schema.Boolean })

const userId = HttpApiSchema.param("userId", UserId)

/** The preferences endpoints, shared with the copy notifications keeps (`GET` only there). */
export const getPreferences = HttpApiEndpoint.get("get")`/users/${userId}/email-preferences`
  .addSuccess(PreferencesView)
  .addError(ErrorBody.schema(PreferencesNotFound, 404, "The user has never set email preferences"))

export class PreferencesApi extends HttpApiGroup.make("preferences")
  .add(
    HttpApiEndpoint.put("set")`/users/${userId}/email-preferences`
      .setPayload(SetPreferences)
      .addSuccess(PreferencesView)
      .addError(Json.MalformedBody)
      .addError(Json.PayloadTooLarge)
      .addError(Json.UnsupportedMediaType)
  )
  .add(getPreferences)
{}

export const Api = PlatformApi.make(HttpApi.make("accounts").add(PreferencesApi), "Accounts: email preferences")
