/**
 * The load of a chaos run: restocks, orders (some from customers the payment gateway declines)
 * and cancels, generated from a seed and sent over HTTP by concurrent clients, each answer
 * written in the journal. An order is sent with the same idempotency key until it is answered;
 * any request refused before it was sent (the server was down) is sent again; a restock or cancel
 * cut by a kill, or answered 503, has an unknown outcome.
 */
import { FastCheck as fc } from "effect"
import { randomUUID } from "node:crypto"
import { readAnswer } from "../support/server.js"
import type { Journal, Outcome } from "./journal.js"

export type Command =
  | { readonly kind: "restock"; readonly sku: number; readonly quantity: number }
  | {
    readonly kind: "order"
    readonly declined: boolean
    readonly lines: ReadonlyArray<{ readonly sku: number; readonly quantity: number }>
  }
  /** Cancel one of the orders answered so far. */
  | { readonly kind: "cancel"; readonly which: number }

export const SKUS = 8

const sku = fc.integer({ min: 0, max: SKUS - 1 })

const command: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 25,
    arbitrary: fc.record({ kind: fc.constant("restock" as const), sku, quantity: fc.integer({ min: 1, max: 20 }) })
  },
  {
    weight: 60,
    arbitrary: fc.record({
      kind: fc.constant("order" as const),
      declined: fc.integer({ min: 0, max: 4 }).map((n) => n === 0),
      lines: fc.array(fc.record({ sku, quantity: fc.integer({ min: 1, max: 3 }) }), { minLength: 1, maxLength: 3 })
    })
  },
  { weight: 15, arbitrary: fc.record({ kind: fc.constant("cancel" as const), which: fc.nat() }) }
)

/** `count` commands, the same for the same seed. */
export const workload = (seed: number, count: number): ReadonlyArray<Command> =>
  fc.sample(command, { seed, numRuns: count })

/**
 * When to kill which server: `kills` distinct command counts between 5% and 95% of the load, each
 * with a server index and a delay (0..200 ms) after that many commands were sent.
 */
export const killPlan = (seed: number, commands: number, kills: number, servers: number) =>
  fc.sample(
    fc.uniqueArray(
      fc.record({
        at: fc.integer({ min: Math.floor(commands * 0.05), max: Math.floor(commands * 0.95) }),
        server: fc.nat(servers - 1),
        delay: fc.integer({ min: 0, max: 200 })
      }),
      { minLength: kills, maxLength: kills, selector: (kill) => kill.at }
    ),
    { seed: seed + 1, numRuns: 1 }
  )[0]!.sort((a, b) => a.at - b.at)

export type Reply =
  | { readonly status: number; readonly contentType: string | null; readonly body: any }
  | { readonly failed: "refused" | "cut" | "timeout"; readonly detail: string }

/** One JSON request; a failure to get an answer is described, never thrown. */
export const send = async (
  url: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {}
): Promise<Reply> => {
  try {
    const response = await fetch(`${url}${path}`, {
      method,
      headers: body === undefined ? headers : { "content-type": "application/json", ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      // a hang bound, not a latency limit: a loaded machine answers late, a lost answer never
      signal: AbortSignal.timeout(120_000)
    })
    return await readAnswer(response)
  } catch (error) {
    const e = error as Error & { cause?: { code?: string; message?: string } }
    if (e.name === "TimeoutError") return { failed: "timeout", detail: `${method} ${path}: no answer within 120 s` }
    const code = e.cause?.code
    return {
      failed: code === "ECONNREFUSED" ? "refused" : "cut",
      detail: `${method} ${path}: ${code ?? e.cause?.message ?? e.message}`
    }
  }
}

const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis))

const isUnavailable = (reply: Reply) =>
  "status" in reply && reply.status === 503 && reply.contentType === "application/json" &&
  reply.body?.error === "ServiceUnavailable"

const isCut = (reply: Reply) => "failed" in reply && reply.failed === "cut"

const describe = (reply: Reply) =>
  "failed" in reply ? `${reply.failed}: ${reply.detail}` : `${reply.status} ${JSON.stringify(reply.body).slice(0, 500)}`

export interface LoadOptions {
  readonly commands: ReadonlyArray<Command>
  readonly skus: ReadonlyArray<string>
  /** A live server's URL (see `Fleet.url`). */
  readonly url: (preferred: number) => Promise<string>
  readonly concurrency: number
  readonly journal: Journal
  /** Called with the number of commands sent so far, as each is sent. */
  readonly sent?: (count: number) => void
}

/** Send every command; resolves once each has its outcome in the journal. */
export const run = async (options: LoadOptions): Promise<void> => {
  const { journal, skus } = options
  const anomaly = (what: string, reply: Reply) => journal.anomalies.push(`${what}: ${describe(reply)}`)

  /** Send until the request reaches a server (a refused connection means it was never sent). */
  const deliver = async (
    preferred: number,
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>
  ) => {
    for (let attempt = 0;; attempt++) {
      const reply = await send(await options.url(preferred + attempt), method, path, body, headers)
      if (!("failed" in reply && reply.failed === "refused")) return reply
      await sleep(20)
    }
  }

  const restock = async (i: number, sku: string, quantity: number) => {
    const reply = await deliver(i, "POST", `/inventory/${sku}/restock`, { quantity })
    let outcome: Outcome = "unknown"
    if ("status" in reply && reply.status === 200 && reply.body?.sku === sku) outcome = "accepted"
    else if (isUnavailable(reply)) journal.unavailable.restock++
    else if (isCut(reply)) journal.cut++
    else anomaly(`restock ${sku}`, reply)
    journal.restocks.push({ sku, quantity, outcome })
  }

  const order = async (i: number, customerId: string, lines: ReadonlyArray<{ sku: string; quantity: number }>) => {
    const key = randomUUID()
    const started = Date.now()
    for (let attempts = 1;; attempts++) {
      const reply = await deliver(i + attempts, "POST", "/orders", { customerId, lines }, { "idempotency-key": key })
      if ("status" in reply && reply.status === 202 && typeof reply.body?.orderId === "string") {
        journal.orders.push({ key, customerId, lines, orderId: reply.body.orderId, attempts })
        return
      }
      if (isUnavailable(reply)) journal.unavailable.order++
      else if (isCut(reply)) journal.cut++
      else return anomaly(`order ${key}`, reply)
      if (Date.now() - started > 600_000) return anomaly(`order ${key} unanswered for 10 minutes`, reply)
      await sleep(50)
    }
  }

  const cancel = async (i: number, which: number) => {
    if (journal.orders.length === 0) return
    const { orderId } = journal.orders[which % journal.orders.length]!
    const reply = await deliver(i, "POST", `/orders/${orderId}/cancel`)
    let outcome: Outcome = "unknown"
    if ("status" in reply && reply.status === 200 && reply.body?.status === "cancelled") outcome = "accepted"
    else if ("status" in reply && reply.status === 409 && reply.body?.error === "OrderNotCancellable") {
      outcome = "refused"
    } else if (isUnavailable(reply)) journal.unavailable.cancel++
    else if (isCut(reply)) journal.cut++
    else anomaly(`cancel ${orderId}`, reply)
    journal.cancels.push({ orderId, outcome })
  }

  let next = 0
  const client = async () => {
    while (next < options.commands.length) {
      const i = next++
      options.sent?.(i + 1)
      const command = options.commands[i]!
      if (command.kind === "restock") await restock(i, skus[command.sku]!, command.quantity)
      else if (command.kind === "order") {
        const lines = command.lines.map((line) => ({ sku: skus[line.sku]!, quantity: line.quantity }))
        await order(i, command.declined ? `declined-${i}` : `customer-${i}`, lines)
      } else await cancel(i, command.which)
    }
  }
  await Promise.all(Array.from({ length: options.concurrency }, client))
}
