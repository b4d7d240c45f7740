/** The accounts service's handlers: a command on, or a read of, a user's EmailPreferences. */
import { HttpApiBuilder } from "@effect/platform"
import { Effect } from "effect"
import { CommandHandler } from "effect-ddd"
import * as Infrastructure from "../../http-server/Infrastructure.js"
import { Api } from "./Api.js"
import { EmailPreferences, PreferencesNotFound } from "./EmailPreferences.js"

export const PreferencesLive = HttpApiBuilder.group(Api, "preferences", (handlers) =>
  handlers
    .handle("set", ({ path, payload }) =>
      CommandHandler.execute(EmailPreferences, path.userId, "set", payload).pipe(
        Effect.map(({ state }) => ({ userId: path.userId, courseAnnouncements: state.courseAnnouncements })),
        // `set` expects any aggregate, and no idempotency key is given
        Effect.catchTags({ AggregateNotFound: Effect.die, IdempotencyKeyReused: Effect.die }),
        Infrastructure.handle
      ))
    .handle("get", ({ path }) =>
      CommandHandler.load(EmailPreferences, path.userId).pipe(
        Effect.filterOrFail(({ state }) => state.set, () => new PreferencesNotFound({ userId: path.userId })),
        Effect.map(({ state }) => ({ userId: path.userId, courseAnnouncements: state.courseAnnouncements })),
        Infrastructure.handle
      )))
