/**
 * A partition's worker: take the partition's lease, deliver while holding it (woken by commits of
 * the partition's events, polling as a fallback), and take it again after losing it. The lease is
 * renewed by a heartbeat on a fiber of its own; when it is lost (taken over, or fenced by a
 * checkpoint reset) the delivery in flight is interrupted and rolls back.
 */
import { Cause, Clock, Duration, Effect, Option, Schedule } from "effect"
import * as Checkpoints from "../../../ports/Checkpoints.js"
import * as CommitSignal from "../commitSignal.js"
import { heartbeat } from "../leaseHeartbeat.js"
import { type Engine, nameOf, type Partition } from "./context.js"
import * as Turn from "./turn.js"

/** The first and the longest wait before reading again while the log is held back. */
const HELD_BACK_FIRST_WAIT = 2
const HELD_BACK_LONGEST_WAIT = 100

/** How a worker waits after a turn: at once after a delivery, backing off while events are held back. */
const waitAfter = (engine: Engine) => {
  let heldBackWait = HELD_BACK_FIRST_WAIT
  return (outcome: Turn.Outcome, wake: Effect.Effect<void>): Effect.Effect<void> => {
    if (outcome === "delivered") {
      heldBackWait = HELD_BACK_FIRST_WAIT
      return engine.driver.yieldBetweenBatches
    }
    if (outcome === "heldBack") {
      // events above the safe horizon (PostgreSQL) become readable when older transactions end,
      // which may signal nothing: read again soon
      const wait = Math.min(heldBackWait, engine.pollMillis)
      heldBackWait = Math.min(heldBackWait * 2, HELD_BACK_LONGEST_WAIT)
      return CommitSignal.awaitOrTimeout(wake, Duration.millis(wait))
    }
    heldBackWait = HELD_BACK_FIRST_WAIT
    return CommitSignal.awaitOrTimeout(wake, Duration.millis(engine.pollMillis))
  }
}

/** Run a partition's worker until interrupted. */
export const run = (engine: Engine, partition: Partition): Effect.Effect<never> => {
  const { subscription } = partition
  const turn = Turn.make(engine, partition)

  /** Deliver while the lease is held (this fiber is interrupted when it is lost) and the relay runs. */
  const deliverWhileHeld = (token: number) =>
    Effect.flatMap(Turn.hold(engine, partition, token), (held) => {
      const wait = waitAfter(engine)
      // woken by commits of this partition's events only (commands inside a delivery signal
      // theirs after its commit)
      const step = Effect.flatMap(
        engine.signal.nextOf(partition.filter),
        (wake) => Effect.flatMap(turn(held), (outcome) => wait(outcome, wake))
      )
      return Effect.repeat(step, { while: () => engine.running.isOn() })
    })

  /** One tenure: take the lease and deliver until it is lost or the relay pauses; false when refused. */
  const tenure = Effect.flatMap(
    Effect.flatMap(
      Clock.currentTimeMillis,
      (now) =>
        engine.checkpoints.acquireLease(subscription.name, partition.index, engine.owner, now, engine.leaseTtlMillis)
    ),
    Option.match({
      onNone: () => Effect.succeed(false),
      onSome: (lease) =>
        Effect.raceFirst(
          deliverWhileHeld(lease.token).pipe(
            Effect.catchIf(
              (error) => error instanceof Checkpoints.LeaseLost,
              () => Effect.logDebug(`relay ${nameOf(partition)} lost its lease`)
            ),
            // paused: give the lease up at once, so another process can take it
            Effect.zipRight(Effect.ignore(
              engine.checkpoints.releaseLease(subscription.name, partition.index, engine.owner)
            ))
          ),
          heartbeat(
            lease,
            engine.leaseTtlMillis,
            engine.driver.leaseClock,
            (at) =>
              engine.checkpoints.acquireLease(
                subscription.name,
                partition.index,
                engine.owner,
                at,
                engine.leaseTtlMillis
              )
          )
        ).pipe(Effect.as(true))
    })
  )

  // refused: try again in a third of a lease's life; lost or paused: at once (a paused relay waits
  // for `resume` before it tries)
  const retakeLease = Schedule.identity<boolean>().pipe(
    Schedule.addDelay((acquired) => (acquired ? Duration.zero : Duration.millis(engine.leaseTtlMillis / 3)))
  )

  return Effect.zipRight(engine.running.awaitOn, tenure).pipe(
    Effect.repeat(retakeLease),
    Effect.catchAllCause((cause) =>
      Cause.isInterruptedOnly(cause)
        ? Effect.interrupt
        : Effect.logWarning(`relay ${nameOf(partition)} restarts after an error`, cause).pipe(
          Effect.zipRight(Effect.sleep("200 millis"))
        )
    ),
    Effect.forever,
    Effect.ensuring(
      Effect.ignore(engine.checkpoints.releaseLease(subscription.name, partition.index, engine.owner))
    ),
    Effect.annotateLogs({ subscription: subscription.name, partition: partition.index, relay: engine.owner })
  )
}
