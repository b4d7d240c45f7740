/**
 * Random workloads on the example domain (restocks, orders — some from declined customers —
 * and cancellations) and the invariants they must keep once the system is quiet.
 */
import { Effect, FastCheck as fc } from "effect"
import { CommandHandler, ProcessManager, type Subscription } from "effect-ddd"
import { Inventory } from "../../examples/http-server/Domain/Inventory.js"
import { Order, OrderId, Sku } from "../../examples/http-server/Domain/Order.js"
import type { makeFulfilment } from "../../examples/http-server/OrderFulfilment.js"
import { delivered } from "./stores.js"

export type Operation =
  | { readonly op: "restock"; readonly sku: number; readonly quantity: number }
  | {
    readonly op: "order"
    readonly declined: boolean
    readonly lines: ReadonlyArray<{ readonly sku: number; readonly quantity: number }>
  }
  | { readonly op: "cancel"; readonly which: number }

export const SKUS = 3
const sku = fc.integer({ min: 0, max: SKUS - 1 })

export const operation: fc.Arbitrary<Operation> = fc.oneof(
  fc.record({ op: fc.constant("restock" as const), sku, quantity: fc.integer({ min: 1, max: 6 }) }),
  fc.record({
    op: fc.constant("order" as const),
    declined: fc.boolean(),
    lines: fc.array(fc.record({ sku, quantity: fc.integer({ min: 1, max: 4 }) }), { minLength: 1, maxLength: 3 })
  }),
  fc.record({ op: fc.constant("cancel" as const), which: fc.nat() })
)

/**
 * The workload as commands, the invariants it must keep (for a fresh store), and when to check
 * them: once the system is quiet.
 */
export const workload = (operations: ReadonlyArray<Operation>, prefix = "") => {
  const skus = Array.from({ length: SKUS }, (_, i) => Sku.make(`${prefix}sku-${i}`))
  const restocked = skus.map(() => 0)
  const orders: Array<{ readonly id: OrderId; readonly declined: boolean; readonly units: ReadonlyArray<number> }> = []
  const commands = operations.map((operation, i) => {
    if (operation.op === "restock") {
      restocked[operation.sku]! += operation.quantity
      return CommandHandler.execute(Inventory, skus[operation.sku]!, "restock", { quantity: operation.quantity })
    }
    if (operation.op === "order") {
      const id = OrderId.make(`${prefix}order-${i}`)
      const units = skus.map(() => 0)
      for (const line of operation.lines) units[line.sku]! += line.quantity
      orders.push({ id, declined: operation.declined, units })
      return CommandHandler.execute(Order, id, "place", {
        customerId: operation.declined ? "declined-customer" : "customer",
        lines: operation.lines.map((l) => ({ sku: skus[l.sku]!, quantity: l.quantity }))
      })
    }
    const placed = orders.length
    return placed === 0
      ? Effect.void
      : CommandHandler.execute(Order, orders[operation.which % placed]!.id, "cancel", {})
  })

  /** Stock conserved per SKU, nothing left reserved, no order pending, declined never confirmed. */
  const invariants = Effect.gen(function*() {
    const sold = skus.map(() => 0)
    for (const order of orders) {
      const { state } = yield* CommandHandler.load(Order, order.id)
      if (state.status === "pending") return yield* Effect.fail(`order ${order.id} is still pending`)
      if (order.declined && state.status === "confirmed") {
        return yield* Effect.fail(`declined order ${order.id} confirmed`)
      }
      if (state.status === "confirmed") order.units.forEach((units, i) => (sold[i]! += units))
    }
    for (let i = 0; i < SKUS; i++) {
      const { state } = yield* CommandHandler.load(Inventory, skus[i]!)
      const total = state.available + state.reserved + state.sold
      if (total !== restocked[i] || state.reserved !== 0 || state.sold !== sold[i] || state.available < 0) {
        return yield* Effect.fail(
          `${skus[i]}: available ${state.available}, reserved ${state.reserved}, sold ${state.sold}; ` +
            `restocked ${restocked[i]}, sold to confirmed orders ${sold[i]}`
        )
      }
    }
  })

  /**
   * Quiet: every partition of the relay's `subscriptions` has delivered the log (none is retrying
   * an event), no order is pending, every process started and none compensating or with a command
   * on its way, and no delivery committed while this was read; fails while the system is not.
   * Reading the processes alone is not enough: a process with no command on its way may still
   * have an event to receive, such as a cancellation whose delivery is being retried.
   */
  const quiet = (pm: ReturnType<typeof makeFulfilment>, subscriptions: ReadonlyArray<Subscription.Any>) =>
    Effect.gen(function*() {
      const before = yield* delivered(subscriptions)
      for (const order of orders) {
        const { state } = yield* CommandHandler.load(Order, order.id)
        if (state.status === "pending") return yield* Effect.fail(`order ${order.id} pending`)
        const instance = yield* ProcessManager.load(pm, order.id)
        const busy = instance.status === "new" || instance.status === "compensating" ||
          instance.steps.some((s) => s.outcome === "pending")
        if (busy) return yield* Effect.fail(`process ${order.id} busy`)
      }
      if ((yield* delivered(subscriptions)) !== before) return yield* Effect.fail("deliveries went on meanwhile")
    })

  return {
    commands,
    invariants,
    quiet,
    orders: orders as ReadonlyArray<{ readonly id: OrderId; readonly declined: boolean }>
  }
}
