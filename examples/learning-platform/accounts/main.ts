/** The accounts service: users' email preferences over HTTP, each change published to the broker. */
import * as Service from "../shared/Service.js"
import { Api } from "./Api.js"
import { PreferencesLive } from "./Http.js"
import { publishPreferences } from "./Publication.js"

Service.run({ name: "accounts", api: Api, handlers: PreferencesLive, publications: [publishPreferences] })
