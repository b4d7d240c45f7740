/**
 * Hostile input, as the fuzzing in `test/chaos` found it: text PostgreSQL cannot store, bodies
 * nested deep enough to overflow the stack of the error report, a raw backslash or semicolon
 * in a path, CONNECT, a request without a Host header, and clients still sending a body the
 * server refuses. Each is a JSON 4xx, never a 5xx, a hang or a connection closed without an
 * answer.
 */
import { describe, expect, it } from "@effect/vitest"
import { connect } from "node:net"
import { type Contract, expectJsonError, freshSku } from "./shared.js"

/** A request written as it is over a new connection; the answer's status and JSON body. */
const rawExchange = (port: string, request: string) =>
  new Promise<{ readonly status: number; readonly body: any } | string>((resolve) => {
    let text = ""
    let failure: string | undefined
    const socket = connect(Number(port), "127.0.0.1", () => socket.write(request))
    socket.setEncoding("latin1").on("data", (data: string) => (text += data))
    socket.on("error", (error: NodeJS.ErrnoException) => (failure = error.code ?? error.message))
    socket.on("close", () => {
      const [head, ...body] = text.split("\r\n\r\n")
      const status = /^HTTP\/1\.1 (\d{3})/.exec(head ?? "")?.[1]
      resolve(
        status === undefined
          ? `no answer (${failure ?? "closed"})`
          : { status: Number(status), body: JSON.parse(body.join("\r\n\r\n")) }
      )
    })
  })

/** A request with a large body written as fast as the connection takes it, as a client streaming a body does. */
const streamed = (port: string, head: string, size: number) =>
  new Promise<{ readonly status: number; readonly error: string } | string>((resolve) => {
    let text = ""
    const socket = connect(Number(port), "127.0.0.1", async () => {
      const piece = Buffer.alloc(16_384, " ")
      socket.write(head)
      for (let sent = 0; sent < size && !socket.destroyed; sent += piece.length) {
        if (!socket.write(piece)) await new Promise((drained) => socket.once("drain", drained).once("close", drained))
      }
    })
    socket.setEncoding("latin1").on("data", (data: string) => (text += data))
    socket.on("error", () => {}).on("close", () => {
      const status = /^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]
      resolve(
        status === undefined
          ? "no answer"
          : { status: Number(status), error: JSON.parse(text.split("\r\n\r\n")[1]!).error }
      )
    })
  })

export const hostileContract = ({ call, next, place, restock, stockOf }: Contract) =>
  describe("hostile input", () => {
    const port = () => new URL(next().url).port

    it("text with control characters or unpaired surrogates is 400, in bodies and paths", async () => {
      const sku = freshSku("print")
      await restock(sku, 5)
      for (const customerId of ["a\u0000b", "tab\there", "\ud800", "x\udc00"]) {
        expectJsonError(await place({ customerId, lines: [{ sku, quantity: 1 }] }), 400, "InvalidRequest")
      }
      for (const bad of ["\u0000", "a\u001fb", "\ud83d"]) {
        expectJsonError(await place({ customerId: "ada", lines: [{ sku: bad, quantity: 1 }] }), 400, "InvalidRequest")
      }
      for (
        const [method, path] of [["GET", "/inventory/%00"], ["POST", "/inventory/a%0Ab/restock"], [
          "GET",
          "/orders/%07"
        ], ["POST", "/orders/%00/cancel"]]
      ) {
        const answer = await call(method!, path!, path!.endsWith("restock") ? { quantity: 1 } : undefined)
        expectJsonError(answer, 400, "InvalidRequest")
      }
      expect(await stockOf(sku)).toEqual({ sku, available: 5, reserved: 0, sold: 0 })
      // printable unicode is text like any other
      const unicorn = `🦄-${sku}`
      expect((await call("POST", `/inventory/${encodeURIComponent(unicorn)}/restock`, { quantity: 2 })).body.sku).toBe(
        unicorn
      )
      expect((await place({ customerId: "Ωmega 🦄", lines: [{ sku: unicorn, quantity: 1 }] })).status).toBe(202)
    })

    it("a body nesting arrays or objects more than 32 levels deep is 400", async () => {
      const deep = (depth: number) => "[".repeat(depth) + "]".repeat(depth)
      // 10,000 levels overflowed the stack while the decoding error was described (a 500)
      for (
        const body of [
          deep(33),
          deep(10_000),
          `{"customerId":"x","lines":${deep(10_000)}}`,
          "{\"a\":".repeat(50) + "1" + "}".repeat(50)
        ]
      ) {
        const answer = await place(body)
        expectJsonError(answer, 400, "InvalidRequest")
        expect(answer.body.issues).toEqual([{
          field: "body",
          message: "nests arrays and objects more than 32 levels deep"
        }])
      }
      // brackets inside strings do not count
      const answer = await place({ customerId: "[".repeat(40), lines: [] })
      expectJsonError(answer, 400, "InvalidRequest")
      expect(answer.body.issues.map((issue: { field: string }) => issue.field)).toEqual(["lines"])
    })

    it("a raw backslash in a path is 400: the URL parser would read it as a slash", async () => {
      const sku = freshSku("slash")
      await restock(sku, 1)
      const body = JSON.stringify({ quantity: 1 })
      const answer = await rawExchange(
        port(),
        `POST /inventory/\\${sku}/restock HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`
      )
      expect(answer).toMatchObject({ status: 400, body: { error: "InvalidRequest", issues: [{ field: "path" }] } })
      // before, the route was matched on "\\<sku>" and the SKU read as "<sku>": restocked
      expect(await stockOf(sku)).toEqual({ sku, available: 1, reserved: 0, sold: 0 })
      // percent-encoded, a backslash is part of the SKU like any other character
      const encoded = await call("POST", `/inventory/${encodeURIComponent(`\\${sku}`)}/restock`, { quantity: 2 })
      expect([encoded.status, encoded.body.sku]).toEqual([200, `\\${sku}`])
    })

    it("a raw semicolon in a path is 400: the router would end the path there", async () => {
      const sku = freshSku("semi")
      await restock(sku, 3)
      // the router read POST /orders/;x/cancel as POST /orders/, the endpoint that places an order,
      // whose body had been drained: the request hung (found by fuzzing)
      for (
        const [method, path, body] of [["POST", "/orders/;x/cancel", {}], [
          "GET",
          `/inventory/${sku};x`,
          undefined
        ]] as const
      ) {
        const answer = await call(method, path, body)
        expectJsonError(answer, 400, "InvalidRequest")
        expect(answer.body.issues).toEqual([{ field: "path", message: "a semicolon must be percent-encoded (%3B)" }])
      }
      const encoded = await call("POST", `/inventory/${encodeURIComponent(`${sku};x`)}/restock`, { quantity: 1 })
      expect([encoded.status, encoded.body.sku]).toEqual([200, `${sku};x`])
    })

    it("CONNECT is 404 with a JSON error", async () => {
      expect(await rawExchange(port(), "CONNECT 127.0.0.1:22 HTTP/1.1\r\nhost: 127.0.0.1:22\r\n\r\n"))
        .toMatchObject({ status: 404, body: { error: "RouteNotFound", message: "no route for CONNECT 127.0.0.1:22" } })
    })

    it("an HTTP/1.1 request without a Host header is 400 with a JSON error", async () => {
      expect(await rawExchange(port(), "GET /orders HTTP/1.1\r\nconnection: close\r\n\r\n"))
        .toMatchObject({
          status: 400,
          body: { error: "MalformedRequest", message: "the request is not valid HTTP (no Host header)" }
        })
    })

    it("a client still sending what is refused gets the answer: the rest is read before the connection closes", async () => {
      const size = 4 * 1024 * 1024
      const declared =
        `POST /orders HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${size}\r\nconnection: close\r\n\r\n`
      for (let round = 0; round < 5; round++) {
        expect(await streamed(port(), declared, size)).toEqual({ status: 413, error: "PayloadTooLarge" })
        expect(await streamed(port(), declared.replace("application/json", "text/plain"), size))
          .toEqual({ status: 415, error: "UnsupportedMediaType" })
        expect(await streamed(port(), declared.replace("POST", "PUT"), size)).toEqual({
          status: 405,
          error: "MethodNotAllowed"
        })
        expect(await streamed(port(), `GET /orders HTTP/1.1\r\nhost: x\r\nx-bad: \u0001\r\ncookie: `, size))
          .toEqual({ status: 400, error: "MalformedRequest" })
      }
    })
  })
