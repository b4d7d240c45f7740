/**
 * The HTTP contract of the example server, over real HTTP, run on SQLite (one process) and on
 * PostgreSQL (two processes sharing the database: requests alternate between them, so what one
 * process wrote the other serves). Fulfilment is only asserted through what the contract
 * promises: enough stock -> confirmed, short stock -> rejected for "insufficient stock",
 * cancelling returns the stock.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { randomUUID } from "node:crypto"
import { request as httpRequest } from "node:http"
import { connect } from "node:net"
import { type Answer, eventually, request, type Server, settled } from "./server.js"

const uuidV7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

/** A SKU no other test uses. */
const freshSku = (name: string) => `${name}-${randomUUID().slice(0, 8)}`

const expectJsonError = (answer: Answer, status: number, tag?: string) => {
  expect({ status: answer.status, contentType: answer.contentType }).toEqual({ status, contentType: "application/json" })
  expect(typeof answer.body).toBe("object")
  expect(typeof answer.body._tag).toBe("string")
  if (tag !== undefined) expect(answer.body._tag).toBe(tag)
}

export const contractSuite = (name: string, start: () => Promise<ReadonlyArray<Server>>) =>
  describe(`HTTP contract: ${name}`, () => {
    let servers: ReadonlyArray<Server> = []
    let turn = 0
    /** The next server in turn (the same one when there is only one). */
    const next = () => servers[turn++ % servers.length]!
    const call = (method: string, path: string, body?: unknown, headers?: Record<string, string>) =>
      request(next(), method, path, body, headers)
    const stockOf = async (sku: string) => (await call("GET", `/inventory/${sku}`)).body
    const restock = async (sku: string, quantity: number) => {
      const answer = await call("POST", `/inventory/${sku}/restock`, { quantity })
      expect(answer.status).toBe(200)
      return answer.body
    }
    const place = async (body: unknown, headers?: Record<string, string>) => call("POST", "/orders", body, headers)
    const placed = async (body: unknown) => {
      const answer = await place(body)
      expect(answer.status).toBe(202)
      return answer.body.orderId as string
    }

    beforeAll(async () => {
      servers = await start()
    })
    afterAll(async () => {
      const codes = await Promise.all(servers.map((server) => server.stop()))
      expect(codes).toEqual(servers.map(() => 0))
    })

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
        for (const body of [{ quantity: 0 }, { quantity: -1 }, { quantity: 1.5 }, { quantity: 1_000_001 }, { quantity: "3" }, {
          quantity: null
        }, {}, { quantity: 1, extra: true }, [1]]) {
          expectJsonError(await call("POST", `/inventory/${sku}/restock`, body), 400, "HttpApiDecodeError")
        }
        expectJsonError(await call("GET", `/inventory/${sku}`), 404)
      })

      it("SKUs in paths have 1..64 characters", async () => {
        const longest = freshSku("s".repeat(55))
        expect(longest.length).toBe(64)
        expect(await restock(longest, 1)).toEqual({ sku: longest, available: 1, reserved: 0, sold: 0 })
        expectJsonError(await call("POST", `/inventory/${longest}x/restock`, { quantity: 1 }), 400, "HttpApiDecodeError")
        expectJsonError(await call("GET", `/inventory/${longest}x`), 400, "HttpApiDecodeError")
        const empty = await call("POST", `/inventory//restock`, { quantity: 1 })
        expect(empty.status === 400 || empty.status === 404).toBe(true)
        expectJsonError(empty, empty.status)
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
        const orderId = await placed({ customerId: "bob", lines: [{ sku: plenty, quantity: 2 }, { sku: scarce, quantity: 3 }] })
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
        const invalid: ReadonlyArray<unknown> = [
          { lines: [line] },
          { customerId: "", lines: [line] },
          { customerId: "c".repeat(101), lines: [line] },
          { customerId: 7, lines: [line] },
          { customerId: "gus" },
          { customerId: "gus", lines: [] },
          { customerId: "gus", lines: line },
          { customerId: "gus", lines: Array.from({ length: 51 }, (_, i) => ({ sku: `${sku}-${i}`, quantity: 1 })) },
          { customerId: "gus", lines: [{ sku, quantity: 0 }] },
          { customerId: "gus", lines: [{ sku, quantity: 1_000_001 }] },
          { customerId: "gus", lines: [{ sku, quantity: 1.5 }] },
          { customerId: "gus", lines: [{ sku, quantity: "1" }] },
          { customerId: "gus", lines: [{ sku: "", quantity: 1 }] },
          { customerId: "gus", lines: [{ sku: "s".repeat(65), quantity: 1 }] },
          { customerId: "gus", lines: [{ quantity: 1 }] },
          { customerId: "gus", lines: [line], extra: 1 },
          null,
          []
        ]
        for (const body of invalid) {
          expectJsonError(await place(body), 400, "HttpApiDecodeError")
        }
        expect(await stockOf(sku)).toEqual({ sku, available: 100, reserved: 0, sold: 0 })

        const limits = await placed({
          customerId: "c".repeat(100),
          lines: Array.from({ length: 50 }, (_, i) => ({ sku: `${sku}-${i}`.padEnd(64, "x"), quantity: 1_000_000 }))
        })
        expect((await call("GET", `/orders/${limits}`)).body.lines).toHaveLength(50)
      })

      it("a body that is not JSON, or not declared JSON, is refused with a JSON error", async () => {
        expectJsonError(await place(`{"customerId": "hal",`), 400, "MalformedBody")
        expectJsonError(await place(""), 400)
        expectJsonError(await call("POST", `/inventory/${freshSku("x")}/restock`, "{quantity: 1}"), 400, "MalformedBody")
        const body = JSON.stringify({ customerId: "hal", lines: [{ sku: "x", quantity: 1 }] })
        for (const contentType of ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]) {
          const answer = await fetch(`${next().url}/orders`, { method: "POST", headers: { "content-type": contentType }, body })
          expectJsonError({ status: answer.status, contentType: answer.headers.get("content-type"), body: await answer.json() }, 415)
        }
      })

      it("a GET with a body is answered as usual", async () => {
        const sku = freshSku("body")
        await restock(sku, 2)
        const answer = await new Promise<Answer>((resolve, reject) => {
          const { port } = new URL(next().url)
          const req = httpRequest(
            {
              host: "127.0.0.1",
              port,
              method: "GET",
              path: `/inventory/${sku}`,
              headers: { "content-type": "text/plain", "content-length": "5" }
            },
            (res) => {
              let text = ""
              res.setEncoding("utf8").on("data", (data: string) => (text += data)).on("end", () =>
                resolve({ status: res.statusCode!, contentType: res.headers["content-type"] ?? null, body: JSON.parse(text) }))
            }
          )
          req.on("error", reject)
          req.end("hello")
        })
        expect(answer).toEqual({ status: 200, contentType: "application/json", body: { sku, available: 2, reserved: 0, sold: 0 } })
      })

      it("a request that is not HTTP is 400 with a JSON error", async () => {
        const { port } = new URL(next().url)
        const raw = await new Promise<string>((resolve, reject) => {
          let text = ""
          const socket = connect(Number(port), "127.0.0.1", () => socket.write("HELLO /orders NOT-HTTP\r\n\r\n"))
          socket.setEncoding("utf8").on("data", (data: string) => (text += data)).on("end", () => resolve(text))
          socket.on("error", reject)
        })
        const [head, body] = raw.split("\r\n\r\n")
        expect(head).toMatch(/^HTTP\/1\.1 400 /)
        expect(head!.toLowerCase()).toContain("content-type: application/json")
        expect(JSON.parse(body!)._tag).toBe("MalformedRequest")
      })

      it("unknown paths and methods are 404 with a JSON error", async () => {
        expectJsonError(await call("GET", "/nowhere"), 404, "RouteNotFound")
        expectJsonError(await call("GET", "/orders"), 404, "RouteNotFound")
        expectJsonError(await call("DELETE", `/orders/${randomUUID()}`), 404, "RouteNotFound")
        expectJsonError(await call("PUT", `/inventory/${freshSku("x")}/restock`, { quantity: 1 }), 404, "RouteNotFound")
      })

      it("a body over 1 MiB is 413, whether its length is declared or it is chunked", async () => {
        const big = JSON.stringify({ customerId: "x".repeat(1024 * 1024), lines: [] })
        expectJsonError(await place(big), 413, "PayloadTooLarge")
        const chunked = await new Promise<Answer>((resolve, reject) => {
          const { port } = new URL(next().url)
          const req = httpRequest(
            { host: "127.0.0.1", port, method: "POST", path: "/orders", headers: { "content-type": "application/json" } },
            (res) => {
              let text = ""
              res.setEncoding("utf8").on("data", (data: string) => (text += data)).on("end", () =>
                resolve({ status: res.statusCode!, contentType: res.headers["content-type"] ?? null, body: JSON.parse(text) }))
            }
          )
          req.on("error", reject)
          for (let offset = 0; offset < big.length; offset += 64 * 1024) req.write(big.slice(offset, offset + 64 * 1024))
          req.end()
        })
        expectJsonError(chunked, 413, "PayloadTooLarge")
        // a chunked body within the limit is read as usual
        const sku = freshSku("chunk")
        const small = await new Promise<number>((resolve, reject) => {
          const { port } = new URL(next().url)
          const req = httpRequest(
            { host: "127.0.0.1", port, method: "POST", path: `/inventory/${sku}/restock`, headers: { "content-type": "application/json" } },
            (res) => resolve(res.resume().statusCode!)
          )
          req.on("error", reject)
          req.write(`{"quantity":`)
          req.end(`7}`)
        })
        expect(small).toBe(200)
        expect((await stockOf(sku)).available).toBe(7)
      })
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
          Array.from({ length: 6 }, () => place({ customerId: "ian", lines: [{ sku, quantity: 1 }] }, { "Idempotency-Key": key }))
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
        expectJsonError(await place(body, { "Idempotency-Key": "" }), 400, "HttpApiDecodeError")
        expectJsonError(await place(body, { "Idempotency-Key": "k".repeat(256) }), 400, "HttpApiDecodeError")
        const longest = `${randomUUID()}${"k".repeat(219)}`
        expect(longest.length).toBe(255)
        const first = await place(body, { "Idempotency-Key": longest })
        expect(first.status).toBe(202)
        expect(await place(body, { "Idempotency-Key": longest })).toEqual(first)
      })
    })
  })
