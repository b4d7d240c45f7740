/**
 * A seeded scheduler: runs the fibers that are ready in an order drawn from the seed, so a run's
 * interleaving of workers, heartbeats, commands and the controller is reproduced exactly by its
 * seed. Ready fibers run from a microtask, before any timer: real time never decides the order.
 * `whenIdle` waits until no fiber is ready (everything waits for time or a signal).
 */
import { Effect, Scheduler } from "effect"

export class SeededScheduler implements Scheduler.Scheduler {
  private readonly tasks: Array<Scheduler.Task> = []
  private idle: Array<() => void> = []
  private draining = false
  constructor(private readonly next: () => number) {}

  shouldYield(fiber: Parameters<Scheduler.Scheduler["shouldYield"]>[0]) {
    return Scheduler.defaultShouldYield(fiber)
  }

  scheduleTask(task: Scheduler.Task) {
    this.tasks.push(task)
    if (!this.draining) {
      this.draining = true
      queueMicrotask(this.drain)
    }
  }

  /** Completes once every other fiber waits (for time, a signal, or forever). */
  readonly whenIdle: Effect.Effect<void> = Effect.async<void>((resume) => {
    this.idle.push(() => resume(Effect.void))
    if (!this.draining) {
      this.draining = true
      queueMicrotask(this.drain)
    }
  })

  private drain = () => {
    while (true) {
      while (this.tasks.length > 0) {
        const index = Math.floor(this.next() * this.tasks.length)
        const task = this.tasks[index]!
        this.tasks[index] = this.tasks[this.tasks.length - 1]!
        this.tasks.pop()
        task()
      }
      if (this.idle.length === 0) break
      const waiting = this.idle
      this.idle = []
      for (const resume of waiting) resume()
    }
    this.draining = false
  }
}
