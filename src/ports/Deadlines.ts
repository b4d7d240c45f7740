/**
 * Deadlines: messages a process manager schedules for one of its instances, kept in the database
 * and delivered once due, each claimed in the transaction that delivers it so it is delivered
 * once even with several processes.
 *
 * @since 0.1.0
 * @module
 */
import { Context, type Effect, type Option } from "effect"
import type { EventStoreError } from "./EventStore.js"

/**
 * A message a process manager scheduled for one of its instances, delivered once `dueAt` has
 * passed.
 *
 * @since 0.1.0
 * @category models
 */
export interface Deadline {
  readonly processManager: string
  readonly instanceId: string
  readonly name: string
  /** Epoch milliseconds. */
  readonly dueAt: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** Replace the pending deadlines of a process manager's instance (none: cancel them all). */
  readonly set: (
    processManager: string,
    instanceId: string,
    deadlines: ReadonlyArray<{ readonly name: string; readonly dueAt: number }>
  ) => Effect.Effect<void, EventStoreError>
  /** At most `limit` deadlines of a process manager due at `now` or earlier, earliest first. */
  readonly due: (
    processManager: string,
    now: number,
    limit: number
  ) => Effect.Effect<ReadonlyArray<Deadline>, EventStoreError>
  /** When the next deadline of a process manager is due, if any. */
  readonly next: (processManager: string) => Effect.Effect<Option.Option<number>, EventStoreError>
  /**
   * Remove a deadline before delivering it: false when it is gone or was rescheduled (another
   * process delivered it, or its instance changed it), so it is delivered once.
   */
  readonly claim: (deadline: Deadline) => Effect.Effect<boolean, EventStoreError>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class Deadlines extends Context.Tag("effect-ddd/Deadlines")<Deadlines, Service>() {}
