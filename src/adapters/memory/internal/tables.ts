/**
 * The in-memory database: every table of the stores in one immutable value, changed inside
 * `TransactionalRef` transactions.
 */
import { Chunk, HashMap, Option } from "effect"
import type * as DomainEvent from "../../../core/DomainEvent.js"
import type { Lease } from "../../../ports/Checkpoints.js"
import type { DeadLetter } from "../../../ports/DeadLetters.js"
import type { Deadline } from "../../../ports/Deadlines.js"
import type { IdempotencyRecord, LogCursor, StoredState } from "../../../ports/EventStore.js"
import type { Version } from "../../../ports/ProjectionVersions.js"
import type { Policy } from "../../../ports/Retention.js"
import type { SubscriptionInfo } from "../../../ports/SubscriptionRegistry.js"
import * as TransactionalRef from "./transactionalRef.js"

export interface Tables {
  readonly streams: HashMap.HashMap<string, Chunk.Chunk<DomainEvent.Stored>>
  readonly states: HashMap.HashMap<string, StoredState>
  /** By position - 1; a pruned event leaves `undefined` (positions are never reused). */
  readonly log: Chunk.Chunk<DomainEvent.Stored | undefined>
  readonly idempotency: HashMap.HashMap<string, IdempotencyRecord>
  readonly checkpoints: HashMap.HashMap<string, LogCursor>
  readonly leases: HashMap.HashMap<string, Lease>
  readonly deadLetters: HashMap.HashMap<string, DeadLetter>
  /** `consumer\u0000messageId` -> when it was processed (epoch milliseconds). */
  readonly inbox: HashMap.HashMap<string, number>
  /** By process manager, then `instanceId\u0000name`. */
  readonly deadlines: HashMap.HashMap<string, HashMap.HashMap<string, Deadline>>
  readonly subscriptions: HashMap.HashMap<string, SubscriptionInfo>
  /** Projections' versions, by `name\u0000version`. */
  readonly projections: HashMap.HashMap<string, Version>
  /** The retention policy recorded, and per aggregate type the last event pruned. */
  readonly retention: Policy | undefined
  readonly pruned: HashMap.HashMap<string, LogCursor>
}

export type Database = TransactionalRef.TransactionalRef<Tables>

export const make = TransactionalRef.make<Tables>({
  streams: HashMap.empty(),
  states: HashMap.empty(),
  log: Chunk.empty(),
  idempotency: HashMap.empty(),
  checkpoints: HashMap.empty(),
  leases: HashMap.empty(),
  deadLetters: HashMap.empty(),
  inbox: HashMap.empty(),
  deadlines: HashMap.empty(),
  subscriptions: HashMap.empty(),
  projections: HashMap.empty(),
  retention: undefined,
  pruned: HashMap.empty()
})

/** Change the tables, returning nothing. */
export const update = (db: Database, f: (tables: Tables) => Tables) =>
  db.modify((tables) => [undefined, f(tables)] as const)

/** A key made of two parts. */
export const key = (a: string, b: string | number) => `${a}\u0000${b}`

/** The value under a key, or a default. */
export const getOr = <K, V>(map: HashMap.HashMap<K, V>, k: K, orElse: () => V): V =>
  Option.getOrElse(HashMap.get(map, k), orElse)
