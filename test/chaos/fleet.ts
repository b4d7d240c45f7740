/**
 * The example server processes of a chaos run, all on one database: any of them can be killed
 * with SIGKILL and is started again at once on the same database (a new port each time). A
 * process that exits when nobody killed or stopped it is a crash: noted, and started again.
 */
import { type Server, startServer } from "../support/server.js"

export interface Fleet {
  /** The URL of a live server, `preferred` if it is up; waits while every server is down. */
  readonly url: (preferred: number) => Promise<string>
  /** Kill server `index` with SIGKILL, and wait until it is started again. */
  readonly kill: (index: number) => Promise<void>
  /** Stop every server with SIGTERM; their exit codes. */
  readonly stop: () => Promise<ReadonlyArray<number | string>>
  readonly size: number
  /** Exits nobody asked for. */
  readonly crashes: ReadonlyArray<string>
  /** What every process wrote, the killed ones' included. */
  readonly output: () => string
}

/**
 * The fleet's payment timeout. The load is open-loop: it sends faster than the saga settles, so
 * with the server's default of 10 s almost every order would time out in the backlog, and the
 * runs would never charge, sell or confirm under kills. Timeouts and their compensation are
 * covered by the simulation and the scenario tests.
 */
export const paymentTimeout = "30 minutes"

interface Slot {
  server: Server | undefined
  up: Promise<Server>
  /** Set while the slot's process is being killed or stopped on purpose. */
  expected: boolean
}

export const startFleet = async (
  env: { readonly DATA_DIR?: string; readonly DATABASE_URL?: string },
  size: number
): Promise<Fleet> => {
  const crashes: Array<string> = []
  const outputs: Array<() => string> = []

  /** Start the slot's process once `after` has settled; `slot.up` waits for it from now on. */
  const launch = (slot: Slot, after: Promise<unknown> = Promise.resolve()): Promise<Server> => {
    slot.up = after.then(() => startServer({ PAYMENT_TIMEOUT: paymentTimeout, ...env })).then((server) => {
      slot.server = server
      slot.expected = false
      outputs.push(server.output)
      void server.exited.then((code) => {
        if (slot.server !== server || slot.expected) return
        crashes.push(`a server exited on its own (${code}):\n${server.output().slice(-2000)}`)
        slot.server = undefined
        void launch(slot)
      })
      return server
    })
    return slot.up
  }

  const slots: Array<Slot> = Array.from(
    { length: size },
    () => ({ server: undefined, up: Promise.resolve(undefined as never), expected: false })
  )
  await Promise.all(slots.map((slot) => launch(slot)))

  return {
    size,
    crashes,
    output: () => outputs.map((output) => output()).join("\n"),
    url: async (preferred) => {
      const live = [slots[preferred % size]!, ...slots].find((slot) => slot.server !== undefined)
      const server = live?.server ?? (await Promise.race(slots.map((slot) => slot.up)))
      return server.url
    },
    kill: async (index) => {
      const slot = slots[index]!
      const server = await slot.up
      slot.expected = true
      slot.server = undefined
      server.child.kill("SIGKILL")
      await launch(slot, server.exited)
    },
    stop: async () =>
      Promise.all(slots.map(async (slot) => {
        const server = await slot.up
        slot.expected = true
        slot.server = undefined
        return server.stop()
      }))
  }
}
