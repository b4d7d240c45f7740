/**
 * What the clients of a chaos run were told: each command with its outcome. `accepted`: a 2xx
 * answer; `refused`: an answer saying it was not done (a 409, or a connection refused before the
 * request was sent); `unknown`: the request was cut (the server was killed, the connection
 * reset) or answered 503, so it may or may not have been committed.
 */
export type Outcome = "accepted" | "refused" | "unknown"

export interface Line {
  readonly sku: string
  readonly quantity: number
}

export interface Restock {
  readonly sku: string
  readonly quantity: number
  readonly outcome: Outcome
}

/** An order, sent with the same idempotency key until it was answered 202. */
export interface PlacedOrder {
  readonly key: string
  readonly customerId: string
  readonly lines: ReadonlyArray<Line>
  readonly orderId: string
  /** Requests it took (more than one: earlier ones were cut or answered 503). */
  readonly attempts: number
}

export interface Cancel {
  readonly orderId: string
  readonly outcome: Outcome
}

export interface Journal {
  readonly restocks: Array<Restock>
  readonly orders: Array<PlacedOrder>
  readonly cancels: Array<Cancel>
  /** Answers no client should ever get: a 5xx other than 503, a 4xx to a valid command, a timeout. */
  readonly anomalies: Array<string>
  /** Requests cut before their answer (a kill, a reset connection). */
  cut: number
  /** How many answers were 503, by kind of command. */
  readonly unavailable: { restock: number; order: number; cancel: number }
}

export const emptyJournal = (): Journal => ({
  restocks: [],
  orders: [],
  cancels: [],
  anomalies: [],
  cut: 0,
  unavailable: { restock: 0, order: 0, cancel: 0 }
})
