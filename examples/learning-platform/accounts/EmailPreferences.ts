/**
 * A user's email preferences, an aggregate of the accounts service. Setting what is set already
 * changes nothing, and publishes nothing.
 */
import { Either, Schema } from "effect"
import { Aggregate } from "effect-ddd"

export const UserId = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(100))

export class PreferencesNotFound extends Schema.TaggedError<PreferencesNotFound>()("PreferencesNotFound", {
  userId: Schema.String
}) {
  override get message() {
    return `user ${this.userId} has never set email preferences`
  }
}

const EmailPreferencesChanged = Schema.TaggedStruct("EmailPreferencesChanged", { courseAnnouncements: Schema.Boolean })

export const EmailPreferences = Aggregate.make({
  name: "EmailPreferences",
  id: UserId,
  state: Schema.Struct({ set: Schema.Boolean, courseAnnouncements: Schema.Boolean }),
  events: EmailPreferencesChanged
})({
  initial: () => ({ set: false, courseAnnouncements: true }),
  evolve: { EmailPreferencesChanged: (_, e) => ({ set: true, courseAnnouncements: e.courseAnnouncements }) }
})
  .command("set", {
    expects: "any",
    input: Schema.Struct({ courseAnnouncements: Schema.Boolean }),
    decide: (s, input) =>
      Either.right(
        s.set && s.courseAnnouncements === input.courseAnnouncements ? [] : [EmailPreferencesChanged.make(input)]
      )
  })
