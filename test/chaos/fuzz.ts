/**
 * Sends hostile requests (`hostile.ts`) to a server one at a time over raw TCP and judges each
 * answer: never a 5xx, always an answer; an error is a 4xx with a JSON body naming its `error`
 * and giving a `message`;
 * a 2xx only for a request that is valid, and then it did what it should (checked against a
 * model of what the fuzzer has done, and by reading back what it created).
 */
import { connect } from "node:net"
import { type Hostile, wire } from "./hostile.js"

export type Answer =
  | { readonly status: number; readonly contentType: string | undefined; readonly body: Buffer }
  | { readonly failed: string }

/** The final response of a (1xx responses skipped), or undefined while it is incomplete. */
const parse = (data: Buffer, head: boolean, closed: boolean): Answer | undefined => {
  let at = 0
  while (true) {
    const end = data.indexOf("\r\n\r\n", at)
    if (end < 0) return undefined
    const lines = data.subarray(at, end).toString("latin1").split("\r\n")
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0]!)?.[1] ?? NaN)
    if (Number.isNaN(status)) return { failed: `not an HTTP response: ${JSON.stringify(lines[0])}` }
    const headers = new Map<string, string>()
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(":")
      headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim())
    }
    const start = end + 4
    if (status >= 100 && status < 200) {
      at = start
      continue
    }
    const contentType = headers.get("content-type")
    if (head || status === 204 || status === 304) return { status, contentType, body: Buffer.alloc(0) }
    const length = headers.get("content-length")
    if (length !== undefined) {
      const n = Number(length)
      return data.length - start >= n ? { status, contentType, body: data.subarray(start, start + n) } : undefined
    }
    if (headers.get("transfer-encoding")?.includes("chunked")) {
      const chunks: Array<Buffer> = []
      let p = start
      while (true) {
        const lineEnd = data.indexOf("\r\n", p)
        if (lineEnd < 0) return undefined
        const size = parseInt(data.subarray(p, lineEnd).toString("latin1"), 16)
        if (size === 0) return { status, contentType, body: Buffer.concat(chunks) }
        if (data.length < lineEnd + 2 + size + 2) return undefined
        chunks.push(data.subarray(lineEnd + 2, lineEnd + 2 + size))
        p = lineEnd + 2 + size + 2
      }
    }
    return closed ? { status, contentType, body: data.subarray(start) } : undefined
  }
}

/** Send bytes on a new connection; the answer, or why there was none (120 s at most: a hang). */
export const exchange = (port: number, bytes: Buffer, head = false): Promise<Answer> =>
  new Promise((resolve) => {
    const chunks: Array<Buffer> = []
    let settled = false
    let error: string | undefined
    const socket = connect(port, "127.0.0.1")
    const finish = (answer: Answer) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      resolve(answer)
    }
    // a hang bound, not a latency limit: a loaded machine answers late, a lost answer never
    const timer = setTimeout(() => finish({ failed: "no answer within 120 s" }), 120_000)
    // in pieces, as a client streaming a body does; once the answer begins, the rest is not sent
    socket.on("connect", async () => {
      for (let at = 0; at < bytes.length && chunks.length === 0 && !socket.destroyed; at += 64 * 1024) {
        if (!socket.write(bytes.subarray(at, at + 64 * 1024))) {
          await new Promise((drained) => socket.once("drain", drained).once("close", drained))
        }
      }
    })
    socket.on("data", (data: Buffer) => {
      chunks.push(data)
      const answer = parse(Buffer.concat(chunks), head, false)
      if (answer !== undefined) finish(answer)
    })
    // the server may stop reading a body it refuses and close: writing then fails, the answer stays
    socket.on("error", (e: NodeJS.ErrnoException) => (error = e.code ?? e.message))
    socket.on("close", () =>
      finish(
        parse(Buffer.concat(chunks), head, true) ?? { failed: `closed without an answer${error ? ` (${error})` : ""}` }
      ))
  })

// --- What a valid request is (written from the API's documented limits, not its schemas) --------

const isInt = (v: unknown, min: number, max: number): v is number =>
  Number.isInteger(v) && (v as number) >= min && (v as number) <= max
/** Printable: no control characters, no unpaired surrogates. */
// eslint-disable-next-line no-control-regex -- control characters are what it finds
const unprintable = /[\u0000-\u001f\u007f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/
const isText = (v: unknown, min: number, max: number): v is string =>
  typeof v === "string" && v.length >= min && v.length <= max && !unprintable.test(v)
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v)
const hasKeys = (v: Record<string, unknown>, keys: ReadonlyArray<string>) =>
  Object.keys(v).length === keys.length && keys.every((k) => Object.prototype.hasOwnProperty.call(v, k))

/** The body as the server reads it: UTF-8 (a BOM dropped), then JSON. */
const json = (body: Buffer | undefined): { readonly ok: true; readonly value: unknown } | { readonly ok: false } => {
  if (body === undefined || body.length === 0) return { ok: false }
  try {
    return { ok: true, value: JSON.parse(new TextDecoder().decode(body)) }
  } catch {
    return { ok: false }
  }
}

type Line = { readonly sku: string; readonly quantity: number }
type Order = { readonly customerId: string; readonly lines: ReadonlyArray<Line> }

const validRestock = (v: unknown): number | undefined =>
  isRecord(v) && hasKeys(v, ["quantity"]) && isInt(v["quantity"], 1, 1_000_000) ? v["quantity"] : undefined

const validOrder = (v: unknown): Order | undefined => {
  if (!isRecord(v) || !hasKeys(v, ["customerId", "lines"]) || !isText(v["customerId"], 1, 100)) return undefined
  const lines = v["lines"]
  if (!Array.isArray(lines) || lines.length < 1 || lines.length > 50) return undefined
  const valid = lines.every((l) =>
    isRecord(l) && hasKeys(l, ["sku", "quantity"]) && isText(l["sku"], 1, 64) && isInt(l["quantity"], 1, 1_000_000)
  )
  return valid ? { customerId: v["customerId"] as string, lines: lines as ReadonlyArray<Line> } : undefined
}

/**
 * The idempotency key the handler sees, read from the bytes sent as Node's parser reads them: the
 * header section ends at the first empty line (a CR LF inside a generated value ends its line
 * there); each value is latin1, without its leading and trailing spaces and tabs (nothing else);
 * repeated headers are joined by ", ". The server then hands the API a fetch `Request` holding the
 * body (`RequestBody.json`), whose headers drop the leading and trailing whitespace of that joined
 * value too (a field value has none, RFC 9110 5.5): a key and an empty one after it are the key and a
 * comma.
 */
const keyOf = (bytes: Buffer): string | undefined => {
  const end = bytes.indexOf("\r\n\r\n")
  const values = bytes.subarray(0, end < 0 ? bytes.length : end).toString("latin1").split("\r\n").slice(1)
    .flatMap((line) => {
      const colon = line.indexOf(":")
      return colon >= 0 && line.slice(0, colon).toLowerCase() === "idempotency-key"
        ? [line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, "")]
        : []
    })
  return values.length === 0 ? undefined : values.join(", ").replace(/^[\t\n\r ]+|[\t\n\r ]+$/g, "")
}

const canonical = (order: Order) => JSON.stringify([order.customerId, order.lines.map((l) => [l.sku, l.quantity])])

const decodeSegment = (segment: string) => {
  try {
    return decodeURIComponent(segment)
  } catch {
    return undefined
  }
}

// --- The fuzzer ------------------------------------------------------------------------------------

export interface FuzzReport {
  readonly cases: number
  /** Answers by status (or by why there was none). */
  readonly statuses: Record<string, number>
  readonly problems: ReadonlyArray<string>
  /** 2xx answers whose effect was checked. */
  readonly accepted: number
}

export const fuzz = async (port: number, cases: ReadonlyArray<Hostile>): Promise<FuzzReport> => {
  const stock = new Map<string, number>()
  const orders = new Map<string, Order & { cancelled: boolean }>()
  const orderIds: Array<string> = []
  const keys = new Map<string, { readonly canonical: string; readonly orderId: string }>()
  const statuses: Record<string, number> = {}
  const problems: Array<string> = []
  let accepted = 0

  const get = async (path: string) => {
    const answer = await exchange(
      port,
      Buffer.from(`GET ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n`)
    )
    return "failed" in answer ? undefined : { status: answer.status, body: json(answer.body) }
  }

  for (let i = 0; i < cases.length; i++) {
    const request = cases[i]!
    const known = orderIds.length === 0 ? "00000000-0000-7000-8000-000000000000" : orderIds[i % orderIds.length]!
    const path = request.path.replaceAll("{order}", known)
    const head = request.raw === undefined && request.method === "HEAD"
    const bytes = wire(request, path)
    let answer = await exchange(port, bytes, head)
    // The server may answer before it has read everything sent (it refused the request early, or
    // its headers ended sooner than the client meant) and close. What the client is still sending
    // then makes the server's kernel answer with a reset, and the client's kernel may drop the
    // answer before it is read. Such a request is sent again, once; it must then be answered.
    if ("failed" in answer && /EPIPE|ECONNRESET/.test(answer.failed)) {
      statuses["answer lost to a reset, sent again"] = (statuses["answer lost to a reset, sent again"] ?? 0) + 1
      answer = await exchange(port, bytes, head)
    }
    const what = `case ${i} (${
      request.raw === undefined ? `${request.method} ${path.slice(0, 120)}` : JSON.stringify(request.raw.slice(0, 80))
    })`
    const problem = (text: string) => problems.push(`${what}: ${text}`)
    if ("failed" in answer) {
      statuses[answer.failed] = (statuses[answer.failed] ?? 0) + 1
      problem(answer.failed)
      continue
    }
    const { status } = answer
    statuses[status] = (statuses[status] ?? 0) + 1
    const body = json(answer.body)
    if (status >= 500) {
      problem(`${status} ${answer.body.toString("utf8").slice(0, 300)}`)
      continue
    }
    if (!head && status >= 400) {
      const error = body.ok && isRecord(body.value) ? body.value : {}
      if (
        !answer.contentType?.startsWith("application/json") || typeof error["error"] !== "string" ||
        typeof error["message"] !== "string"
      ) {
        problem(`${status} without a JSON error: ${answer.contentType} ${answer.body.toString("utf8").slice(0, 200)}`)
      }
    }
    if (request.raw !== undefined || head) continue

    // the oracle: what the answer says against what the request was and what was done before
    const sent = json(request.body?.kind === "text" ? Buffer.from(request.body.text, request.body.encoding) : undefined)
    const segments = path.split(/[?#]/)[0]!.split("/")
    const reply = body.ok && isRecord(body.value) ? body.value : {}
    const aimed = request.method ===
        ({ restock: "POST", stock: "GET", place: "POST", order: "GET", cancel: "POST", none: "" } as const)[
          request.endpoint
        ]
      ? request.endpoint
      : "none"
    const ok = status >= 200 && status < 300
    if (ok) accepted++
    switch (aimed) {
      case "restock": {
        if (!ok) break
        const quantity = sent.ok ? validRestock(sent.value) : undefined
        if (quantity === undefined) {
          problem(
            `accepted an invalid restock: ${
              request.body?.kind === "text" ? request.body.text.slice(0, 200) : request.body?.kind
            }`
          )
          break
        }
        const sku = reply["sku"] as string
        const expected = decodeSegment(segments[2]!)
        if (!isText(expected, 1, 64)) problem(`accepted an invalid SKU in the path: ${JSON.stringify(segments[2])}`)
        if (expected !== undefined && expected !== sku) {
          problem(`restocked ${JSON.stringify(sku)} for the path segment ${JSON.stringify(segments[2])}`)
        }
        const total = Number(reply["available"]) + Number(reply["reserved"]) + Number(reply["sold"])
        if (total !== (stock.get(sku) ?? 0) + quantity) {
          problem(`restock of ${quantity}: total ${total}, expected ${(stock.get(sku) ?? 0) + quantity}`)
        }
        stock.set(sku, total)
        break
      }
      case "stock": {
        const sku = reply["sku"] as string
        if (ok) {
          const total = Number(reply["available"]) + Number(reply["reserved"]) + Number(reply["sold"])
          if (stock.get(sku) !== total) {
            problem(`stock of ${JSON.stringify(sku)}: total ${total}, restocked ${stock.get(sku)}`)
          }
        } else if (status === 404 && reply["error"] === "SkuNotFound" && stock.has(sku)) {
          problem(`${JSON.stringify(sku)} was restocked, the server does not know it`)
        }
        break
      }
      case "place": {
        const order = sent.ok ? validOrder(sent.value) : undefined
        const key = keyOf(bytes)
        const previous = key === undefined ? undefined : keys.get(key)
        if (
          status === 422 && (previous === undefined || order === undefined || previous.canonical === canonical(order))
        ) {
          problem(`422 for key ${JSON.stringify(key)}, first used ${JSON.stringify(previous)}`)
        }
        if (!ok) break
        if (order === undefined || (key !== undefined && !isText(key, 1, 255))) {
          problem(
            `accepted an invalid order (key ${JSON.stringify(key)}): ${
              request.body?.kind === "text" ? request.body.text.slice(0, 200) : request.body?.kind
            }`
          )
          break
        }
        const orderId = reply["orderId"] as string
        if (previous !== undefined) {
          if (previous.canonical !== canonical(order)) {
            problem(`key ${JSON.stringify(key)} reused with another order, answered ${status}`)
          } else if (previous.orderId !== orderId) {
            problem(`key ${JSON.stringify(key)} placed a second order ${orderId} (first ${previous.orderId})`)
          }
          break
        }
        const stored = await get(`/orders/${encodeURIComponent(orderId)}`)
        const view = stored?.body.ok && isRecord(stored.body.value) ? stored.body.value : undefined
        if (
          stored?.status !== 200 || view?.["customerId"] !== order.customerId ||
          JSON.stringify(view?.["lines"]) !== JSON.stringify(order.lines)
        ) {
          problem(`order ${orderId} reads back as ${stored?.status} ${JSON.stringify(view).slice(0, 300)}`)
        }
        orders.set(orderId, { ...order, cancelled: false })
        orderIds.push(orderId)
        if (key !== undefined) keys.set(key, { canonical: canonical(order), orderId })
        break
      }
      case "order": {
        const id = decodeSegment(segments[2]!)
        const mine = id === undefined ? undefined : orders.get(id)
        if (ok && (mine === undefined || reply["customerId"] !== mine.customerId)) {
          problem(`read an order the fuzzer did not place as that: ${JSON.stringify(reply).slice(0, 200)}`)
        }
        if (status === 404 && mine !== undefined) problem(`order ${id} was placed, the server does not know it`)
        break
      }
      case "cancel": {
        const id = decodeSegment(segments[2]!)
        const mine = id === undefined ? undefined : orders.get(id)
        if ((ok || status === 409) && mine === undefined) {
          problem(`cancel answered ${status} for an order the fuzzer never placed`)
        }
        if (status === 404 && mine !== undefined) problem(`order ${id} was placed, cancel says it does not exist`)
        if (ok && mine !== undefined) {
          if (mine.cancelled) problem(`order ${id} cancelled twice`)
          mine.cancelled = true
          const after = await get(`/orders/${encodeURIComponent(id!)}`)
          if (!after?.body.ok || !isRecord(after.body.value) || after.body.value["status"] !== "cancelled") {
            problem(`order ${id} is not cancelled after a 200`)
          }
        }
        break
      }
      case "none":
        break
    }
  }
  return { cases: cases.length, statuses, problems, accepted }
}
