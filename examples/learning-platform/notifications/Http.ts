/** The notifications service's handlers: reads of its own tables. */
import { HttpApiBuilder } from "@effect/platform"
import { Effect, Option } from "effect"
import * as PlatformApi from "../shared/Api.js"
import { Api, PreferencesNotKnown } from "./Api.js"
import * as Mail from "./Mail.js"
import * as Preferences from "./Preferences.js"

export const NotificationsLive = HttpApiBuilder.group(Api, "notifications", (handlers) =>
  handlers
    .handle("preferences", ({ path }) =>
      Preferences.known(path.userId).pipe(
        PlatformApi.readModel,
        Effect.flatMap(Option.match({
          onNone: () => Effect.fail(new PreferencesNotKnown({ userId: path.userId })),
          onSome: (known) => Effect.succeed({ userId: path.userId, ...known })
        }))
      ))
    .handle("emails", ({ path }) =>
      Mail.sentTo(path.studentId).pipe(
        PlatformApi.readModel,
        Effect.map((emails) => ({ studentId: path.studentId, emails }))
      )))
