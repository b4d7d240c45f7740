/** What the accounts service tells other services: each change of a user's email preferences. */
import { Publication, Subscription } from "effect-ddd"
import { EmailPreferencesChangedV1 } from "../contracts/Accounts.js"
import { EmailPreferences } from "./EmailPreferences.js"

export const publishPreferences = Publication.make({
  name: "accounts-publish-email-preferences",
  events: [Subscription.on(EmailPreferences, "EmailPreferencesChanged")],
  to: EmailPreferencesChangedV1,
  source: "/accounts",
  map: (event, envelope) => ({ userId: envelope.aggregateId, courseAnnouncements: event.courseAnnouncements })
})
