/**
 * How the store runs a statement: on the ambient transaction's connection when there is one (a
 * fifth of the cost of a statement through the client), on the session's, or alone on a
 * connection of the store's; its failures as the port's errors, with a reason.
 */
import type { SqlError } from "@effect/sql/SqlError"
import type { Effect } from "effect"
import { type ParseResult } from "effect"
import { EventStoreError } from "../../../ports/EventStore.js"
import type { Prepare } from "../PreparedStatements.js"
import * as Connections from "./connections.js"
import * as Dialect from "./dialect.js"
import * as EffectSql from "./effectSql.js"

/** A driver error as the port's error, with a reason. */
export const toStoreError = (error: SqlError, detail?: string): EventStoreError =>
  new EventStoreError({
    reason: Dialect.isUnavailable(error) ? "Unavailable" : Dialect.isConstraint(error) ? "Constraint" : "Unknown",
    detail: detail ?? EffectSql.messageOf(error),
    cause: error
  })

/** A row that does not decode as the port's error (`Decode`); the port's errors as they are. */
export const toDecodeError = (what: string) => (error: ParseResult.ParseError | EventStoreError): EventStoreError =>
  error._tag === "ParseError"
    ? new EventStoreError({ reason: "Decode", detail: `${what}: ${error.message}`, cause: error })
    : error

/** Run a statement; `what` names it in the error. */
export type Query = <A extends object>(
  text: string,
  params: ReadonlyArray<unknown>,
  what: string
) => Effect.Effect<ReadonlyArray<A>, EventStoreError>

/** Statements on the connections of `onConnection`, each handed to the driver as `prepare` makes it. */
export const make = (onConnection: Connections.OnConnection, prepare: Prepare): Query => (text, params, what) =>
  Connections.mapFailure(
    Connections.execute(onConnection, prepare(text), params),
    (error) => toStoreError(error, `${what}: ${EffectSql.messageOf(error)}`)
  )
