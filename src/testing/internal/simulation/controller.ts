/**
 * The controller of a run: it moves the simulated time, kills and starts processes, and injects
 * the faults that act from outside a delivery (a crash between commit and delivery, a lease taken
 * over, a checkpoint moved back); once the workload is done it redrives what was dead-lettered and
 * waits until the system is quiet.
 */
import { Clock, Context, Effect, Option } from "effect"
import type * as ProcessManager from "../../../core/ProcessManager.js"
import * as Subscription from "../../../core/Subscription.js"
import { Checkpoints } from "../../../ports/Checkpoints.js"
import { DeadLetters } from "../../../ports/DeadLetters.js"
import { Deadlines } from "../../../ports/Deadlines.js"
import { EventStore, logStart } from "../../../ports/EventStore.js"
import type { VirtualClock } from "./clock.js"
import * as Processes from "./processes.js"
import type { SeededScheduler } from "./scheduler.js"
import { chance, log, pick, type State } from "./state.js"

export interface World {
  readonly state: State
  readonly stores: Context.Context<EventStore | Checkpoints | DeadLetters | Deadlines>
  readonly services: Context.Context<never>
  readonly settings: Processes.Settings
  /** Every subscription the processes run (process managers' included). */
  readonly subscriptions: ReadonlyArray<Subscription.Any>
  readonly processes: Array<Processes.Process>
  /** The longest a tick moves the clock. */
  readonly maxTick: number
  readonly clock: VirtualClock
  readonly scheduler: SeededScheduler
  /** How many times each dead letter was redriven. */
  readonly redriven: Map<string, number>
  started: number
}

/** Most redrives of one dead letter before the run gives up on it. */
const MOST_REDRIVES = 3

export const startProcess = (world: World) =>
  Effect.flatMap(
    Processes.start(
      world.state,
      `sim-${++world.started}`,
      world.stores as Context.Context<never>,
      world.services,
      world.settings
    ),
    (process) => Effect.sync(() => world.processes.push(process))
  )

const alive = (world: World) => world.processes.filter((p) => p.alive)

/** Replace the processes that died (the leases they held expire before anyone takes them). */
export const replaceDead = (world: World, count: number) =>
  Effect.gen(function*() {
    while (alive(world).length < count) {
      yield* world.clock.advance(world.settings.leaseTtl)
      yield* startProcess(world)
    }
  })

/** Every partition of every subscription, with the part of the log it reads. */
const partitions = (world: World) =>
  world.subscriptions.flatMap((subscription) =>
    Array.from({ length: subscription.partitions }, (_, index) => ({
      subscription,
      index,
      filter: Subscription.logFilter(subscription, index)
    }))
  )

/** A lease taken over by another process (and given up again): its holder's token is stale. */
const takeOverLease = (world: World) =>
  Effect.gen(function*() {
    const checkpoints = Context.get(world.stores, Checkpoints)
    const { index, subscription } = pick(world.state, partitions(world))
    const now = yield* Clock.currentTimeMillis
    const intruder = `intruder-${world.state.step}`
    yield* checkpoints.acquireLease(subscription.name, index, intruder, now + world.settings.leaseTtl, 1)
    yield* checkpoints.releaseLease(subscription.name, index, intruder)
    world.state.counts.leaseExpiry++
    yield* log(world.state, `fault leaseExpiry: ${subscription.name}/${index} was taken over`)
  })

/** A checkpoint moved back over its last events: an at-least-once transport delivers them again. */
const deliverAgain = (world: World) =>
  Effect.gen(function*() {
    const store = Context.get(world.stores, EventStore)
    const checkpoints = Context.get(world.stores, Checkpoints)
    const { filter, index, subscription } = pick(world.state, partitions(world))
    const checkpoint = yield* checkpoints.get(subscription.name, index)
    const delivered = (yield* store.readAll(logStart, Number.MAX_SAFE_INTEGER, filter))
      .filter((e) => e.position <= checkpoint.position)
    if (delivered.length === 0) return
    const again = 1 + Math.floor(world.state.next() * Math.min(3, delivered.length))
    const before = delivered[delivered.length - again - 1]
    for (const event of delivered.slice(-again)) {
      const key = `${subscription.name}:${event.eventId}`
      world.state.redeliveries.set(key, (world.state.redeliveries.get(key) ?? 0) + 1)
    }
    yield* checkpoints.reset(
      subscription.name,
      index,
      before === undefined ? logStart : { commitOrder: before.commitOrder, position: before.position }
    )
    world.state.counts.duplicate++
    yield* log(world.state, `fault duplicate: ${subscription.name}/${index} will receive ${again} event(s) again`)
  })

/** A process dies between a commit and the deliveries it would have made. */
const crash = (world: World) =>
  Effect.gen(function*() {
    const victim = pick(world.state, alive(world))
    world.state.counts.crash++
    yield* Processes.kill(world.state, victim, "fault crash")
  })

/** Move the clock by a drawn amount (an eighth of the longest pause between commands at most). */
export const tick = (world: World) => world.clock.advance(Math.floor(world.state.next() * world.maxTick / 8))

/**
 * Let the event loop turn once everything simulated waits: nothing simulated is ready then, so
 * the run's order stays the seed's, and the host (a test runner) gets to answer its messages.
 */
export const breathe = (world: World) =>
  Effect.zipRight(
    world.scheduler.whenIdle,
    Effect.async<void>((resume) => {
      const handle = setImmediate(() => resume(Effect.void))
      return Effect.sync(() => clearImmediate(handle))
    })
  )

/** One step while the workload runs: a fault from outside, or time passing. */
export const step = (world: World) => {
  const { faults } = world.state
  if (chance(world.state, faults.crash)) return crash(world)
  if (chance(world.state, faults.leaseExpiry)) return takeOverLease(world)
  if (chance(world.state, faults.duplicate)) return deliverAgain(world)
  return tick(world)
}

/** Redrive what was dead-lettered (lifting the faults that made it fail); false when a letter was redriven too often. */
export const redriveAll = (world: World) =>
  Effect.gen(function*() {
    const deadLetters = Context.get(world.stores, DeadLetters)
    const letters = yield* deadLetters.list({})
    const open = letters.filter((l) => l.status === "open")
    if (open.length === 0) return { letters: letters.length, exhausted: [] as typeof letters }
    const exhausted = open.filter((l) => (world.redriven.get(l.id) ?? 0) >= MOST_REDRIVES)
    if (exhausted.length > 0) return { letters: letters.length, exhausted }
    for (const letter of open) {
      world.state.cursed.delete(`${letter.subscription}:${letter.eventId}`)
      world.redriven.set(letter.id, (world.redriven.get(letter.id) ?? 0) + 1)
      yield* deadLetters.setStatus(letter.id, "redrive")
    }
    yield* log(
      world.state,
      `redrive: ${open.map((l) => `${l.subscription} ${l.aggregateType}/${l.aggregateId}@${l.version}`).join(", ")}`
    )
    return { letters: letters.length, exhausted: [] as typeof letters }
  })

/** Whether every partition has delivered the whole log. */
export const caughtUp = (world: World) =>
  Effect.gen(function*() {
    const store = Context.get(world.stores, EventStore)
    const checkpoints = Context.get(world.stores, Checkpoints)
    for (const { filter, index, subscription } of partitions(world)) {
      const checkpoint = yield* checkpoints.get(subscription.name, index)
      if ((yield* store.readAll(checkpoint, 1, filter)).length > 0) return false
    }
    return true
  })

/** When the next deadline of any process manager is due. */
export const nextDeadline = (world: World, processManagers: ReadonlyArray<ProcessManager.Any>) =>
  Effect.gen(function*() {
    const deadlines = Context.get(world.stores, Deadlines)
    let earliest: number | undefined
    for (const pm of processManagers) {
      const at = yield* deadlines.next(pm.name)
      if (Option.isSome(at) && (earliest === undefined || at.value < earliest)) earliest = at.value
    }
    return earliest
  })

/** Move the clock to when the next deadline is due (at least a little). */
export const until = (world: World, at: number) =>
  Effect.flatMap(Clock.currentTimeMillis, (now) => world.clock.advance(Math.max(at - now, 1)))

/** Stop every process still alive, at the end of a run (their fibers interrupted, as at shutdown). */
export const stopAll = (world: World) =>
  Effect.forEach(alive(world), (process) => Processes.stop(process), { discard: true })
