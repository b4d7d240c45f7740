/**
 * The status page at `/status`: one static HTML file (`status.html`, no build step and nothing
 * fetched from elsewhere) that asks for the admin token once, keeps it in the tab's
 * `sessionStorage`, and calls the admin API with it. The page itself holds no data, so it is
 * served without the token.
 */
import { HttpApiBuilder, HttpServerResponse } from "@effect/platform"
import { Effect } from "effect"
import { readFileSync } from "node:fs"

/** Where the status page is served. */
export const path = "/status"

/** The page's HTML, read once when the server starts. */
const page = Effect.sync(() => readFileSync(new URL("./status.html", import.meta.url), "utf8"))

/** `GET /status`: the page; it may run only its own inline script and call only this server. */
export const layer = HttpApiBuilder.Router.use((router) =>
  Effect.gen(function*() {
    const html = yield* page
    const response = HttpServerResponse.html(html).pipe(
      HttpServerResponse.setHeaders({
        "cache-control": "no-store",
        "content-security-policy":
          "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; form-action 'none'; frame-ancestors 'none'",
        "referrer-policy": "no-referrer"
      })
    )
    yield* router.get(path, Effect.succeed(response))
  })
)
