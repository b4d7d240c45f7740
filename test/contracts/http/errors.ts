/**
 * Requests the API cannot serve: every answer is JSON `{ "error", "message" }` with its status:
 * 400 for a body that is not JSON, 404 for an unknown path, 405 (with `Allow`) for a known path
 * with another method, 413 for a body over 1 MiB, 415 for a body not declared JSON, and JSON too
 * for what Node's HTTP parser refuses. HEAD is served as GET without a body.
 */
import { describe, expect, it } from "@effect/vitest"
import { randomUUID } from "node:crypto"
import { connect } from "node:net"
import { rawRequest } from "../../support/server.js"
import { type Contract, expectJsonError, freshSku } from "./shared.js"

export const errorsContract = ({ call, next, place, restock, stockOf }: Contract) =>
  describe("errors", () => {
    it("a body that is empty or not JSON is 400 MalformedBody", async () => {
      expectJsonError(await place(`{"customerId": "hal",`), 400, "MalformedBody")
      expectJsonError(await place(""), 400, "MalformedBody")
      expectJsonError(await call("POST", `/inventory/${freshSku("x")}/restock`, "{quantity: 1}"), 400, "MalformedBody")
      const noBody = await rawRequest(next(), { method: "POST", path: "/orders" })
      expectJsonError(noBody, 400, "MalformedBody")
    })

    it("a body whose content type is missing or not application/json is 415, and changes nothing", async () => {
      const sku = freshSku("typed")
      const body = JSON.stringify({ quantity: 1 })
      for (
        const contentType of [
          "text/plain",
          "application/x-www-form-urlencoded",
          "multipart/form-data; boundary=x",
          "text/json"
        ]
      ) {
        const answer = await rawRequest(next(), {
          method: "POST",
          path: `/inventory/${sku}/restock`,
          headers: { "content-type": contentType },
          chunks: [body]
        })
        expectJsonError(answer, 415, "UnsupportedMediaType")
        expect(answer.body.contentType).toBe(contentType)
      }
      const untyped = await rawRequest(next(), { method: "POST", path: `/inventory/${sku}/restock`, chunks: [body] })
      expectJsonError(untyped, 415, "UnsupportedMediaType")
      expectJsonError(await call("GET", `/inventory/${sku}`), 404, "SkuNotFound")
      const withCharset = await rawRequest(next(), {
        method: "POST",
        path: `/inventory/${sku}/restock`,
        headers: { "content-type": "Application/JSON; charset=utf-8" },
        chunks: [body]
      })
      expect(withCharset.status).toBe(200)
    })

    it("a GET with a body, or a POST without a JSON payload given one, is answered as usual", async () => {
      const sku = freshSku("body")
      await restock(sku, 2)
      const get = await rawRequest(next(), {
        method: "GET",
        path: `/inventory/${sku}`,
        headers: { "content-type": "text/plain", "content-length": "5" },
        chunks: ["hello"]
      })
      expect([get.status, get.body]).toEqual([200, { sku, available: 2, reserved: 0, sold: 0 }])
      const cancel = await rawRequest(next(), {
        method: "POST",
        path: `/orders/${randomUUID()}/cancel`,
        headers: { "content-type": "text/plain" },
        chunks: ["please"]
      })
      expectJsonError(cancel, 404, "OrderNotFound")
    })

    it("HEAD is served as GET, without a body", async () => {
      const sku = freshSku("head")
      await restock(sku, 3)
      const head = await rawRequest(next(), { method: "HEAD", path: `/inventory/${sku}` })
      expect([head.status, head.contentType, head.body]).toEqual([200, "application/json", ""])
      expect(Number(head.headers["content-length"])).toBe(
        JSON.stringify({ sku, available: 3, reserved: 0, sold: 0 }).length
      )
      const missing = await rawRequest(next(), { method: "HEAD", path: `/inventory/${freshSku("none")}` })
      expect([missing.status, missing.body]).toEqual([404, ""])
    })

    it("an unknown path is 404 RouteNotFound", async () => {
      for (
        const [method, path] of [
          ["GET", "/nowhere"],
          ["POST", "/orders/x/y/z"],
          ["GET", "/inventory"],
          ["DELETE", "/"],
          [
            "GET",
            "//nowhere/orders"
          ]
        ]
      ) {
        const answer = await call(method!, path!)
        expectJsonError(answer, 404, "RouteNotFound")
        expect(answer.body.message).toBe(`no route for ${method} ${path}`)
      }
    })

    it("a known path with another method is 405 MethodNotAllowed, with an Allow header", async () => {
      const cases: ReadonlyArray<readonly [string, string, string]> = [
        ["GET", "/orders", "POST"],
        ["DELETE", `/orders/${randomUUID()}`, "GET, HEAD"],
        ["PUT", `/inventory/${freshSku("x")}/restock`, "POST"],
        ["GET", `/orders/${randomUUID()}/cancel`, "POST"],
        ["POST", "/openapi.json", "GET, HEAD"],
        ["PATCH", "/admin/dead-letters/some-id", "DELETE"],
        ["OPTIONS", "/orders", "POST"]
      ]
      for (const [method, path, allow] of cases) {
        const answer = await rawRequest(next(), { method, path })
        expectJsonError(answer, 405, "MethodNotAllowed")
        expect(answer.headers.allow, `${method} ${path}`).toBe(allow)
        expect(answer.body.allowed).toEqual(allow.split(", "))
        expect(answer.body.message).toBe(`${method} is not allowed on ${path}; allowed: ${allow}`)
      }
    })

    it("a body over 1 MiB is 413, whether its length is declared or it is chunked", async () => {
      const big = JSON.stringify({ customerId: "x".repeat(1024 * 1024), lines: [] })
      expectJsonError(await place(big), 413, "PayloadTooLarge")
      const chunks = Array.from(
        { length: Math.ceil(big.length / 65536) },
        (_, i) => big.slice(i * 65536, (i + 1) * 65536)
      )
      const chunked = await rawRequest(next(), {
        method: "POST",
        path: "/orders",
        headers: { "content-type": "application/json" },
        chunks
      })
      expectJsonError(chunked, 413, "PayloadTooLarge")
      // the rest was read and dropped: the connection can serve the next request
      expect(chunked.headers.connection).toBe("keep-alive")
      // a chunked body within the limit is read as usual
      const sku = freshSku("chunk")
      const small = await rawRequest(next(), {
        method: "POST",
        path: `/inventory/${sku}/restock`,
        headers: { "content-type": "application/json" },
        chunks: [`{"quantity":`, `7}`]
      })
      expect(small.status).toBe(200)
      expect((await stockOf(sku)).available).toBe(7)
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
      expect(JSON.parse(body!)).toEqual({
        error: "MalformedRequest",
        message: expect.stringMatching(/^the request is not valid HTTP \(HPE_/),
        code: expect.stringMatching(/^HPE_/)
      })
    })
  })
