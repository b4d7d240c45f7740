/**
 * Given/when/then specifications for an `HttpApi` application, at the HTTP level: given the
 * events already stored, when the application serves a request, then its response and the
 * events it appended.
 *
 * From the example server's specifications (`test/unit/ApiSpec.test.ts`):
 * {@includeCode ../../../test/unit/ApiSpec.test.ts#setup,spec}
 *
 * The request is served in-process, without a socket, by the application built afresh for each
 * specification over the `EventStore` in context. Assertions throw, so a specification works in
 * any test runner.
 *
 * @since 0.1.0
 * @module
 */
import {
  type HttpApi,
  HttpApiBuilder,
  type HttpRouter,
  HttpServer,
  HttpServerRequest,
  HttpServerResponse
} from "@effect/platform"
import { Clock, Effect, Layer } from "effect"
import assert from "node:assert/strict"
import * as Aggregate from "../../core/Aggregate.js"
import * as DomainEvent from "../../core/DomainEvent.js"
import { EventStore, type EventStoreError, type LoggedEvent, logStart } from "../../ports/EventStore.js"
import * as IdGenerator from "../../ports/IdGenerator.js"

/**
 * Events of one aggregate instance.
 *
 * @since 0.1.0
 * @category models
 */
export interface History {
  readonly aggregate: Aggregate.Any
  readonly id: string
  readonly events: ReadonlyArray<unknown>
}

/**
 * Events of one aggregate instance, for `given` (its whole history so far) or among the new
 * events `then` expects.
 *
 * @since 0.1.0
 * @category constructors
 */
export const events = <A extends Aggregate.Any>(
  aggregate: A,
  id: Aggregate.Id<A> | string,
  events: ReadonlyArray<Aggregate.Event<A>>
): History => ({ aggregate, id, events })

/**
 * @since 0.1.0
 * @category models
 */
export interface Request {
  readonly method: string
  /** The path and query: `/orders?limit=5`. */
  readonly path: string
  /** JSON (sent as `application/json`), or a string sent as it is. */
  readonly body?: unknown
  readonly headers?: Readonly<Record<string, string>>
}

/**
 * A request; an object body is sent as JSON.
 *
 * @since 0.1.0
 * @category constructors
 */
export const request = (
  method: string,
  path: string,
  body?: unknown,
  headers: Readonly<Record<string, string>> = {}
): Request => ({ method, path, body, headers })

/**
 * @since 0.1.0
 * @category models
 */
export interface Response {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  /** Parsed when it is JSON, the text otherwise. */
  readonly body: any
}

/**
 * What the response must be: its status, its body (compared deeply) when given, and exactly the
 * new events when given (in the order they were appended, grouped by aggregate instance).
 *
 * @since 0.1.0
 * @category models
 */
export interface Expected {
  readonly status: number
  readonly body?: unknown
  readonly events?: ReadonlyArray<History>
}

/**
 * The services an application's layer gets from the specification.
 *
 * @since 0.1.0
 * @category models
 */
export type Provided = HttpApiBuilder.Router | HttpApiBuilder.Middleware | HttpRouter.HttpRouter.DefaultServices

/**
 * @since 0.1.0
 * @category models
 */
export interface When<E, R> {
  /** Serve the request and check the response; returns it for further checks. */
  readonly then: (
    expected: Expected | ((response: Response) => Expected)
  ) => Effect.Effect<Response, E | EventStoreError | DomainEvent.EncodeError, Exclude<R, Provided> | EventStore>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Given<E, R> {
  /** The request under test. */
  readonly when: (request: Request) => When<E, R>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Spec<E, R> {
  /** The events stored before the request: each aggregate instance's whole history. */
  readonly given: (...history: ReadonlyArray<History>) => Given<E, R>
}

/** Append a history as a command would: event ids, versions, the state row of a state-stored aggregate. */
const seed = (history: History) =>
  Effect.gen(function*() {
    const store = yield* EventStore
    const { aggregate, id } = history
    const now = yield* Clock.currentTimeMillis
    const unsaved: Array<DomainEvent.Unsaved> = []
    for (const [i, event] of history.events.entries()) {
      const eventId = yield* IdGenerator.next
      unsaved.push({
        eventId,
        aggregateType: aggregate.name,
        aggregateId: id,
        version: i + 1,
        eventType: (event as { readonly _tag: string })._tag,
        schemaVersion: Aggregate.schemaVersion(aggregate, (event as { readonly _tag: string })._tag),
        payload: yield* DomainEvent.encodePayload(aggregate, event as never),
        occurredAt: now,
        metadata: { correlationId: eventId }
      })
    }
    const state = Aggregate.replay(aggregate, id as never, history.events as never)
    yield* store.append({
      aggregateType: aggregate.name,
      aggregateId: id,
      expectedVersion: 0,
      events: unsaved,
      state: aggregate.persistence._tag === "StateStored" || unsaved.length === 0
        ? { version: unsaved.length, state: yield* DomainEvent.encodeValue(aggregate, "state", aggregate.state, state) }
        : undefined
    })
  })

/** The new events as compared: aggregate, id, type and encoded payload. */
const shown = (event: Pick<LoggedEvent, "aggregateType" | "aggregateId" | "eventType" | "payload">) => ({
  aggregate: `${event.aggregateType}/${event.aggregateId}`,
  type: event.eventType,
  payload: event.payload
})

const expectedEvents = (histories: ReadonlyArray<History>) =>
  Effect.forEach(
    histories.flatMap((h) => h.events.map((event) => ({ history: h, event }))),
    ({ event, history }) =>
      Effect.map(DomainEvent.encodePayload(history.aggregate, event as never), (payload) =>
        shown({
          aggregateType: history.aggregate.name,
          aggregateId: history.id,
          eventType: (event as { readonly _tag: string })._tag,
          payload
        }))
  )

/** The expectation built from the response; a response it cannot be built from fails the spec. */
const expectationOf = (expected: (response: Response) => Expected, response: Response, answered: string): Expected => {
  try {
    return expected(response)
  } catch (error) {
    throw new assert.AssertionError({ message: `${answered}; the expectation failed on it: ${String(error)}` })
  }
}

const toWebRequest = (request: Request): globalThis.Request => {
  const json = request.body !== undefined && typeof request.body !== "string"
  const body = request.body === undefined ? undefined : json ? JSON.stringify(request.body) : (request.body as string)
  return new globalThis.Request(new URL(request.path, "http://localhost"), {
    method: request.method,
    headers: {
      ...(json ? { "content-type": "application/json" } : {}),
      ...(body === undefined ? {} : { "content-length": String(Buffer.byteLength(body)) }),
      ...request.headers
    },
    ...(body === undefined ? {} : { body })
  })
}

const readResponse = (response: HttpServerResponse.HttpServerResponse) =>
  Effect.promise(async (): Promise<Response> => {
    const web = HttpServerResponse.toWeb(response)
    const text = await web.text()
    const headers = Object.fromEntries(web.headers.entries())
    let body: unknown = text
    if ((headers["content-type"] ?? "").includes("json") && text !== "") body = JSON.parse(text)
    return { status: web.status, headers, body }
  })

/**
 * A specification of an application: `app` is its `HttpApi` layer (`HttpApiBuilder.api(Api)`
 * with its groups and middleware); what it needs beyond the router is provided to `then`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <E, R>(app: Layer.Layer<HttpApi.Api, E, R>): Spec<E, R> => ({
  given: (...history) => ({
    when: (request) => ({
      then: (expected) =>
        Effect.scoped(Effect.gen(function*() {
          const store = yield* EventStore
          yield* Effect.forEach(history, seed, { discard: true })
          const before = (yield* store.readAll(logStart, Number.MAX_SAFE_INTEGER)).length
          const context = yield* Layer.build(
            app.pipe(
              Layer.provideMerge(
                Layer.mergeAll(HttpApiBuilder.Router.Live, HttpApiBuilder.Middleware.layer, HttpServer.layerContext)
              )
            )
          )
          const httpApp = yield* Effect.provide(HttpApiBuilder.httpApp, context)
          const served = yield* httpApp.pipe(
            Effect.provideService(
              HttpServerRequest.HttpServerRequest,
              HttpServerRequest.fromWeb(toWebRequest(request))
            ),
            Effect.provide(context)
          )
          const response = yield* readResponse(served)
          const appended = (yield* store.readAll(logStart, Number.MAX_SAFE_INTEGER)).slice(before)
          const what = `${request.method} ${request.path}`
          const answered = `status ${response.status}, body ${JSON.stringify(response.body)}`
          const wanted = typeof expected === "function"
            ? expectationOf(expected, response, `${what}: ${answered}`)
            : expected
          assert.equal(response.status, wanted.status, `${what}: ${answered}`)
          if (wanted.body !== undefined) assert.deepStrictEqual(response.body, wanted.body, `${what}: body`)
          if (wanted.events !== undefined) {
            assert.deepStrictEqual(appended.map(shown), yield* expectedEvents(wanted.events), `${what}: new events`)
          }
          return response
        })) as Effect.Effect<Response, E | EventStoreError | DomainEvent.EncodeError, Exclude<R, Provided> | EventStore>
    })
  })
})
