/**
 * The accounts service's public contract: a user's email preferences, keyed by the user id, so a
 * user's changes reach the consumers in order.
 */
import { Schema } from "effect"
import { IntegrationEvent } from "effect-ddd"

/** A user's email preferences, as they are now. */
export const EmailPreferencesChangedV1 = IntegrationEvent.make({
  type: "accounts.email-preferences-changed",
  version: 1,
  schema: Schema.Struct({ userId: Schema.String, courseAnnouncements: Schema.Boolean })
})
