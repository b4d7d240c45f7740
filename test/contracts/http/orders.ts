/**
 * Inventory, orders and idempotency keys. Fulfilment is only asserted through what the contract
 * promises: enough stock -> confirmed, short stock -> rejected for "insufficient stock" (never
 * oversold, however many orders race for it), cancelling returns the stock.
 */
import { describe, expect, it } from "@effect/vitest"
import { randomUUID } from "node:crypto"
import { eventually, settled } from "../../support/server.js"
import { type Contract, expectJsonError, freshSku } from "./shared.js"

const uuidV7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

export const ordersContract = ({ call, next, place, placed, restock, stockOf }: Contract) => {
  describe("inventory", () => {
    it("restock adds to what is available and answers the stock", async () => {
      const sku = freshSku("apple")
      expect(await restock(sku, 5)).toEqual({ sku, available: 5, reserved: 0, sold: 0 })
      expect(await restock(sku, 1_000_000)).toEqual({ sku, available: 1_000_005, reserved: 0, sold: 0 })
      const answer = await call("GET", `/inventory/${sku}`)
      expect(answer).toEqual({
        status: 200,
        contentType: "application/json",
        body: { sku, available: 1_000_005, reserved: 0, sold: 0 }
      })
    })

    it("a SKU never restocked is 404", async () => {
      const sku = freshSku("unknown")
      expectJsonError(await call("GET", `/inventory/${sku}`), 404, "SkuNotFound")
    })

    it("a quantity that is not an integer in 1..1000000 is 400, and changes nothing", async () => {
      const sku = freshSku("pear")
      const invalid: ReadonlyArray<readonly [unknown, string]> = [
        [{ quantity: 0 }, "quantity"],
        [{ quantity: -1 }, "quantity"],
        [{ quantity: 1.5 }, "quantity"],
        [{ quantity: 1_000_001 }, "quantity"],
        [{ quantity: "3" }, "quantity"],
        [{ quantity: null }, "quantity"],
        [{}, "quantity"],
        [{ quantity: 1, extra: true }, "extra"],
        [[1], "body"]
      ]
      for (const [body, field] of invalid) {
        const answer = await call("POST", `/inventory/${sku}/restock`, body)
        expectJsonError(answer, 400, "InvalidRequest")
        expect(answer.body.issues.map((issue: { field: string }) => issue.field), JSON.stringify(body)).toEqual([field])
        expect(answer.body.message.startsWith(`${field}: `), answer.body.message).toBe(true)
      }
      expectJsonError(await call("GET", `/inventory/${sku}`), 404)
    })

    it("SKUs in paths have 1..64 characters", async () => {
      const longest = freshSku("s".repeat(55))
      expect(longest.length).toBe(64)
      expect(await restock(longest, 1)).toEqual({ sku: longest, available: 1, reserved: 0, sold: 0 })
      for (
        const answer of [
          await call("POST", `/inventory/${longest}x/restock`, { quantity: 1 }),
          await call("GET", `/inventory/${longest}x`)
        ]
      ) {
        expectJsonError(answer, 400, "InvalidRequest")
        expect(answer.body.message).toMatch(/^sku: Expected a string at most 64 character\(s\) long/)
      }
      expectJsonError(await call("POST", `/inventory//restock`, { quantity: 1 }), 404, "RouteNotFound")
    })
  })

  describe("orders", () => {
    it("an order with enough stock is accepted as pending, then confirmed, and takes its stock", async () => {
      const sku = freshSku("apple")
      await restock(sku, 5)
      const lines = [{ sku, quantity: 2 }]
      const answer = await place({ customerId: "ada", lines })
      expect(answer.status).toBe(202)
      expect(Object.keys(answer.body).sort()).toEqual(["orderId", "status"])
      expect(answer.body.status).toBe("pending")
      expect(answer.body.orderId).toMatch(uuidV7)
      const orderId = answer.body.orderId
      expect(await settled(next(), orderId)).toEqual({ orderId, customerId: "ada", lines, status: "confirmed" })
      expect(await call("GET", `/orders/${orderId}`)).toEqual({
        status: 200,
        contentType: "application/json",
        body: { orderId, customerId: "ada", lines, status: "confirmed" }
      })
      const stock = await stockOf(sku)
      expect(stock.available).toBe(3)
      expect(stock.reserved + stock.sold).toBe(2)
    })

    it("an order with a line short of stock is rejected for insufficient stock, and keeps no stock", async () => {
      const plenty = freshSku("plenty")
      const scarce = freshSku("scarce")
      await restock(plenty, 5)
      await restock(scarce, 1)
      const orderId = await placed({
        customerId: "bob",
        lines: [{ sku: plenty, quantity: 2 }, { sku: scarce, quantity: 3 }]
      })
      expect(await settled(next(), orderId)).toEqual({
        orderId,
        customerId: "bob",
        lines: [{ sku: plenty, quantity: 2 }, { sku: scarce, quantity: 3 }],
        status: "rejected",
        reason: "insufficient stock"
      })
      await eventually(async () => {
        expect(await stockOf(plenty)).toEqual({ sku: plenty, available: 5, reserved: 0, sold: 0 })
        expect(await stockOf(scarce)).toEqual({ sku: scarce, available: 1, reserved: 0, sold: 0 })
      })
    })

    it("a customer the payment gateway declines is rejected for payment declined, and keeps no stock", async () => {
      const sku = freshSku("plum")
      await restock(sku, 5)
      const orderId = await placed({ customerId: "declined-dan", lines: [{ sku, quantity: 2 }] })
      expect(await settled(next(), orderId)).toEqual({
        orderId,
        customerId: "declined-dan",
        lines: [{ sku, quantity: 2 }],
        status: "rejected",
        reason: "payment declined"
      })
      await eventually(async () => expect(await stockOf(sku)).toEqual({ sku, available: 5, reserved: 0, sold: 0 }))
    })

    it("lines of the same SKU are served together", async () => {
      const sku = freshSku("quince")
      await restock(sku, 5)
      const enough = await placed({ customerId: "cal", lines: [{ sku, quantity: 2 }, { sku, quantity: 2 }] })
      expect((await settled(next(), enough)).status).toBe("confirmed")
      expect((await stockOf(sku)).available).toBe(1)
      const short = await placed({ customerId: "cal", lines: [{ sku, quantity: 1 }, { sku, quantity: 1 }] })
      expect(await settled(next(), short)).toMatchObject({ status: "rejected", reason: "insufficient stock" })
      await eventually(async () => expect((await stockOf(sku)).available).toBe(1))
    })

    it("an order for a SKU never restocked is rejected for insufficient stock", async () => {
      const orderId = await placed({ customerId: "cy", lines: [{ sku: freshSku("ghost"), quantity: 1 }] })
      const order = await settled(next(), orderId)
      expect([order.status, order.reason]).toEqual(["rejected", "insufficient stock"])
    })

    it("cancelling a confirmed order returns its stock", async () => {
      const sku = freshSku("melon")
      await restock(sku, 4)
      const orderId = await placed({ customerId: "dee", lines: [{ sku, quantity: 3 }] })
      expect((await settled(next(), orderId)).status).toBe("confirmed")
      const cancel = await call("POST", `/orders/${orderId}/cancel`)
      expect(cancel).toEqual({ status: 200, contentType: "application/json", body: { orderId, status: "cancelled" } })
      expect((await call("GET", `/orders/${orderId}`)).body.status).toBe("cancelled")
      await eventually(async () => expect(await stockOf(sku)).toEqual({ sku, available: 4, reserved: 0, sold: 0 }))
    })

    it("cancelling an order at once returns its stock, and the order stays cancelled", async () => {
      const sku = freshSku("grape")
      await restock(sku, 4)
      const orderId = await placed({ customerId: "eve", lines: [{ sku, quantity: 3 }] })
      const cancel = await call("POST", `/orders/${orderId}/cancel`)
      expect(cancel.body).toEqual({ orderId, status: "cancelled" })
      await eventually(async () => expect(await stockOf(sku)).toEqual({ sku, available: 4, reserved: 0, sold: 0 }))
      expect((await call("GET", `/orders/${orderId}`)).body.status).toBe("cancelled")
    })

    it("cancelling a rejected or cancelled order is 409, and changes nothing", async () => {
      const rejected = await placed({ customerId: "fay", lines: [{ sku: freshSku("none"), quantity: 1 }] })
      expect((await settled(next(), rejected)).status).toBe("rejected")
      expectJsonError(await call("POST", `/orders/${rejected}/cancel`), 409, "OrderNotCancellable")
      expect((await call("GET", `/orders/${rejected}`)).body.status).toBe("rejected")

      const sku = freshSku("fig")
      await restock(sku, 1)
      const cancelled = await placed({ customerId: "fay", lines: [{ sku, quantity: 1 }] })
      expect((await call("POST", `/orders/${cancelled}/cancel`)).status).toBe(200)
      expectJsonError(await call("POST", `/orders/${cancelled}/cancel`), 409, "OrderNotCancellable")
      expect((await call("GET", `/orders/${cancelled}`)).body.status).toBe("cancelled")
    })

    it("an unknown order is 404 for GET and cancel", async () => {
      for (const id of [randomUUID(), "no-such-order"]) {
        expectJsonError(await call("GET", `/orders/${id}`), 404, "OrderNotFound")
        expectJsonError(await call("POST", `/orders/${id}/cancel`), 404, "OrderNotFound")
      }
    })

    it("an invalid order is 400 and creates nothing; the limits themselves are accepted", async () => {
      const sku = freshSku("kiwi")
      await restock(sku, 100)
      const line = { sku, quantity: 1 }
      const invalid: ReadonlyArray<readonly [unknown, string]> = [
        [{ lines: [line] }, "customerId"],
        [{ customerId: "", lines: [line] }, "customerId"],
        [{ customerId: "c".repeat(101), lines: [line] }, "customerId"],
        [{ customerId: 7, lines: [line] }, "customerId"],
        [{ customerId: "gus" }, "lines"],
        [{ customerId: "gus", lines: [] }, "lines"],
        [{ customerId: "gus", lines: line }, "lines"],
        [
          { customerId: "gus", lines: Array.from({ length: 51 }, (_, i) => ({ sku: `${sku}-${i}`, quantity: 1 })) },
          "lines"
        ],
        [{ customerId: "gus", lines: [{ sku, quantity: 0 }] }, "lines[0].quantity"],
        [{ customerId: "gus", lines: [{ sku, quantity: 1_000_001 }] }, "lines[0].quantity"],
        [{ customerId: "gus", lines: [line, { sku, quantity: 1.5 }] }, "lines[1].quantity"],
        [{ customerId: "gus", lines: [{ sku, quantity: "1" }] }, "lines[0].quantity"],
        [{ customerId: "gus", lines: [{ sku: "", quantity: 1 }] }, "lines[0].sku"],
        [{ customerId: "gus", lines: [{ sku: "s".repeat(65), quantity: 1 }] }, "lines[0].sku"],
        [{ customerId: "gus", lines: [{ quantity: 1 }] }, "lines[0].sku"],
        [{ customerId: "gus", lines: [line], extra: 1 }, "extra"],
        [null, "body"],
        [[], "body"]
      ]
      for (const [body, field] of invalid) {
        const answer = await place(body)
        expectJsonError(answer, 400, "InvalidRequest")
        expect(answer.body.issues.map((issue: { field: string }) => issue.field), JSON.stringify(body)).toEqual([field])
        expect(answer.body.message.startsWith(`${field}: `), answer.body.message).toBe(true)
      }
      expect(await stockOf(sku)).toEqual({ sku, available: 100, reserved: 0, sold: 0 })

      const limits = await placed({
        customerId: "c".repeat(100),
        lines: Array.from({ length: 50 }, (_, i) => ({ sku: `${sku}-${i}`.padEnd(64, "x"), quantity: 1_000_000 }))
      })
      expect((await call("GET", `/orders/${limits}`)).body.lines).toHaveLength(50)
    })

    it("an invalid order is answered with every problem, each naming its field", async () => {
      const answer = await place({ customerId: "", lines: [{ sku: "a", quantity: 0 }, { quantity: 2 }], coupon: "x" })
      expectJsonError(answer, 400, "InvalidRequest")
      expect(answer.body.issues).toEqual([
        { field: "coupon", message: expect.stringContaining("is unexpected") },
        { field: "customerId", message: `Expected a string at least 1 character(s) long, actual ""` },
        { field: "lines[0].quantity", message: "Expected a number between 1 and 1000000, actual 0" },
        { field: "lines[1].sku", message: "is missing" }
      ])
      expect(answer.body.message).toBe(
        answer.body.issues.map((issue: { field: string; message: string }) => `${issue.field}: ${issue.message}`).join(
          "; "
        )
      )
    })

    it("stock is never oversold: of 100 concurrent orders for 10 units, 10 are confirmed, 90 rejected", async () => {
      const sku = freshSku("last-units")
      await restock(sku, 10)
      const answers = await Promise.all(
        Array.from({ length: 100 }, (_, i) => place({ customerId: `buyer-${i}`, lines: [{ sku, quantity: 1 }] }))
      )
      expect(answers.map((answer) => answer.status)).toEqual(answers.map(() => 202))
      const outcomes: Array<string> = []
      for (const answer of answers) {
        const order = await settled(next(), answer.body.orderId, 60_000)
        outcomes.push(order.status === "rejected" ? `rejected: ${order.reason}` : order.status)
      }
      expect(outcomes.filter((outcome) => outcome === "confirmed")).toHaveLength(10)
      expect(outcomes.filter((outcome) => outcome === "rejected: insufficient stock")).toHaveLength(90)
      await eventually(async () => expect(await stockOf(sku)).toEqual({ sku, available: 0, reserved: 0, sold: 10 }))
    }, 120_000)
  })

  describe("idempotency", () => {
    it("the same key and body answer the same order and create nothing more", async () => {
      const sku = freshSku("plum")
      await restock(sku, 10)
      const key = randomUUID()
      const first = await place({ customerId: "ida", lines: [{ sku, quantity: 2 }] }, { "Idempotency-Key": key })
      expect(first.status).toBe(202)
      // the same JSON with its keys in another order and other spacing
      const again = await place(`{ "lines": [ { "quantity": 2, "sku": "${sku}" } ], "customerId": "ida" }`, {
        "Idempotency-Key": key
      })
      expect(again).toEqual(first)
      expect((await settled(next(), first.body.orderId)).status).toBe("confirmed")
      const third = await place({ customerId: "ida", lines: [{ sku, quantity: 2 }] }, { "Idempotency-Key": key })
      expect(third).toEqual(first)
      await eventually(async () => {
        const stock = await stockOf(sku)
        expect(stock.available).toBe(8)
        expect(stock.reserved + stock.sold).toBe(2)
      })
    })

    it("concurrent requests with the same key and body place one order", async () => {
      const sku = freshSku("cherry")
      await restock(sku, 10)
      const key = randomUUID()
      const answers = await Promise.all(
        Array.from(
          { length: 6 },
          () => place({ customerId: "ian", lines: [{ sku, quantity: 1 }] }, { "Idempotency-Key": key })
        )
      )
      expect(answers.map((answer) => answer.status)).toEqual(answers.map(() => 202))
      expect(new Set(answers.map((answer) => answer.body.orderId)).size).toBe(1)
      expect((await settled(next(), answers[0]!.body.orderId)).status).toBe("confirmed")
      await eventually(async () => expect((await stockOf(sku)).available).toBe(9))
    })

    it("the same key with another body is 422", async () => {
      const sku = freshSku("date")
      await restock(sku, 10)
      const key = randomUUID()
      const first = await place({ customerId: "jo", lines: [{ sku, quantity: 1 }] }, { "Idempotency-Key": key })
      expect(first.status).toBe(202)
      const other = await place({ customerId: "jo", lines: [{ sku, quantity: 2 }] }, { "Idempotency-Key": key })
      expectJsonError(other, 422, "IdempotencyKeyReused")
      expect(other.body.key).toBe(key)
      expect((await settled(next(), first.body.orderId)).status).toBe("confirmed")
      expect((await stockOf(sku)).available).toBe(9)
    })

    it("different keys place different orders", async () => {
      const sku = freshSku("lime")
      await restock(sku, 10)
      const body = { customerId: "kim", lines: [{ sku, quantity: 1 }] }
      const a = await place(body, { "Idempotency-Key": randomUUID() })
      const b = await place(body, { "Idempotency-Key": randomUUID() })
      const c = await place(body)
      expect(new Set([a.body.orderId, b.body.orderId, c.body.orderId]).size).toBe(3)
    })

    it("a key must have 1..255 characters", async () => {
      const body = { customerId: "lu", lines: [{ sku: freshSku("key"), quantity: 1 }] }
      for (const key of ["", "k".repeat(256)]) {
        const answer = await place(body, { "Idempotency-Key": key })
        expectJsonError(answer, 400, "InvalidRequest")
        expect(answer.body.issues.map((issue: { field: string }) => issue.field)).toEqual(["idempotency-key"])
      }
      const longest = `${randomUUID()}${"k".repeat(219)}`
      expect(longest.length).toBe(255)
      const first = await place(body, { "Idempotency-Key": longest })
      expect(first.status).toBe(202)
      expect(await place(body, { "Idempotency-Key": longest })).toEqual(first)
    })
  })
}
