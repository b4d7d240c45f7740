/**
 * Hostile HTTP requests for the example server, generated with fast-check: the real endpoints
 * with malformed JSON, wrong types, huge numbers, very long strings, unicode and control
 * characters, SQL-injection strings, deeply nested bodies, bodies over 1 MiB, wrong content
 * types and bad idempotency keys; unknown paths and methods; and bytes that are not HTTP at all.
 * Each is sent as raw bytes, so nothing is tidied up on the way.
 */
import { FastCheck as fc } from "effect"

export type Endpoint = "restock" | "stock" | "place" | "order" | "cancel" | "none"

export interface Hostile {
  /** What it aims at (for the oracle and the figures). */
  readonly endpoint: Endpoint
  readonly method: string
  /** The path; `{order}` stands for an order the fuzzer placed (`/orders/{order}`). */
  readonly path: string
  readonly headers: ReadonlyArray<readonly [string, string]>
  readonly body?: Body | undefined
  /** Bytes sent as they are instead of a request built from the fields above. */
  readonly raw?: string | undefined
}

export type Body =
  | { readonly kind: "text"; readonly text: string; readonly encoding: "utf8" | "latin1" | "utf16le" }
  /** `bytes` bytes of JSON-looking filler, with or without a Content-Length. */
  | { readonly kind: "large"; readonly bytes: number; readonly chunked: boolean }

// --- Strings and numbers -----------------------------------------------------------------------

const injections = [
  "' OR 1=1 --",
  "'; DROP TABLE effect_ddd_events; --",
  "\" OR \"\"=\"",
  "1; SELECT pg_sleep(10)",
  "$1",
  "?",
  "%s%s%s%n",
  "${7*7}",
  "{{7*7}}",
  "../../../../etc/passwd",
  "<script>alert(1)</script>",
  "__proto__",
  "constructor",
  "null",
  "undefined",
  "NaN",
  "\u0000",
  "a\u0000b",
  "\ud800",
  "\udc00x",
  "\uffff",
  "\ufeff",
  "🦄🦄",
  "e\u0301",
  "\u202eevil",
  "\u200b",
  "Ω≈ç√∫",
  "\r\n",
  "\t",
  " ",
  "",
  "%",
  "%00",
  "%zz",
  "/",
  "\\"
]

const longString = fc.constantFrom(63, 64, 65, 99, 100, 101, 254, 255, 256, 1_000, 70_000).chain((n) =>
  fc.constantFrom("x", "é", "🦄", "\u0007").map((c) => c.repeat(n).slice(0, n))
)

const controls = fc.array(fc.integer({ min: 0, max: 31 }), { minLength: 1, maxLength: 8 }).map((cs) =>
  String.fromCharCode(...cs)
)

export const hostileString: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(...injections),
  fc.string({ maxLength: 20 }),
  fc.string({ unit: "grapheme", maxLength: 10 }),
  fc.string({ unit: "binary", maxLength: 10 }),
  longString,
  controls,
  fc.tuple(fc.constantFrom(...injections), fc.string({ maxLength: 5 })).map(([a, b]) => a + b)
)

/** JSON number text, including what JSON.parse turns into Infinity or a rounded integer. */
const numberText = fc.oneof(
  fc.constantFrom(
    "0",
    "1",
    "-1",
    "1000000",
    "1000001",
    "2147483648",
    "9007199254740993",
    "-9007199254740993",
    "1.5",
    "1.0",
    "-0",
    "1e308",
    "1e400",
    "-1e400",
    "1e-400",
    "5e0",
    "0.1e1"
  ),
  fc.integer().map(String),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map(String)
)

/** Bare words that are not JSON, put where a value goes. */
const notJson = fc.constantFrom("NaN", "Infinity", "undefined", "0x10", "01", "1_000", "+1", ".5", "'x'", "tru")

// --- JSON bodies -----------------------------------------------------------------------------------

/** A JSON text: values are written as text, so numbers beyond doubles and non-JSON words fit. */
type Json = string

const str = (s: string) => JSON.stringify(s)
const obj = (fields: ReadonlyArray<readonly [string, Json]>) =>
  `{${fields.map(([k, v]) => `${str(k)}:${v}`).join(",")}}`
const arr = (items: ReadonlyArray<Json>) => `[${items.join(",")}]`

const nested = fc.integer({ min: 2, max: 200_000 }).chain((depth) =>
  fc.constantFrom(
    "[".repeat(depth) + "]".repeat(depth),
    "{\"a\":".repeat(depth) + "1" + "}".repeat(depth),
    "[".repeat(depth)
  )
)

const anyValue: fc.Arbitrary<Json> = fc.letrec<{ value: Json }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    numberText,
    hostileString.map(str),
    fc.constantFrom("true", "false", "null", "{}", "[]"),
    notJson,
    nested,
    fc.array(tie("value"), { maxLength: 4 }).map(arr),
    fc.array(fc.tuple(hostileString, tie("value")), { maxLength: 4 }).map(obj)
  )
})).value

const validSku = fc.oneof(
  fc.constantFrom("apple", "pear", "plum"),
  hostileString.filter((s) => s.length >= 1 && s.length <= 64)
)
const validQuantity = fc.integer({ min: 1, max: 1_000_000 }).map(String)
const validCustomer = fc.oneof(
  fc.constantFrom("ada", "declined-bob"),
  hostileString.filter((s) => s.length >= 1 && s.length <= 100)
)

/** A field: valid mostly, hostile sometimes. */
const field = (valid: fc.Arbitrary<Json>) =>
  fc.oneof({ weight: 6, arbitrary: valid }, { weight: 1, arbitrary: anyValue })

const line = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.tuple(field(validSku.map(str)), field(validQuantity)).map(([sku, q]) =>
      obj([["sku", sku], ["quantity", q]])
    )
  },
  {
    weight: 1,
    arbitrary: fc.array(fc.tuple(fc.constantFrom("sku", "quantity", "extra", "__proto__"), anyValue), { maxLength: 3 })
      .map(obj)
  },
  { weight: 1, arbitrary: anyValue }
)

/** An order the API accepts, its strings as hostile as the limits allow. */
const validOrder = fc.tuple(validCustomer, fc.array(fc.tuple(validSku, validQuantity), { minLength: 1, maxLength: 5 }))
  .map(([customerId, lines]) =>
    obj([["customerId", str(customerId)], [
      "lines",
      arr(lines.map(([sku, q]) => obj([["sku", str(sku)], ["quantity", q]])))
    ]])
  )

const orderBody = fc.oneof(
  { weight: 4, arbitrary: validOrder },
  {
    weight: 4,
    arbitrary: fc.tuple(
      field(validCustomer.map(str)),
      fc.oneof({ weight: 4, arbitrary: fc.array(line, { minLength: 1, maxLength: 4 }).map(arr) }, {
        weight: 1,
        arbitrary: fc.oneof(anyValue, fc.array(line, { minLength: 49, maxLength: 52 }).map(arr), fc.constant("[]"))
      }),
      fc.option(fc.tuple(hostileString, anyValue), { freq: 8 })
    ).map(([customerId, lines, extra]) =>
      obj([["customerId", customerId], ["lines", lines], ...(extra === null ? [] : [extra])])
    )
  },
  { weight: 1, arbitrary: anyValue }
)

const restockBody = fc.oneof(
  { weight: 4, arbitrary: validQuantity.map((q) => obj([["quantity", q]])) },
  {
    weight: 3,
    arbitrary: fc.tuple(field(validQuantity), fc.option(fc.tuple(hostileString, anyValue), { freq: 8 })).map((
      [q, extra]
    ) => obj([["quantity", q], ...(extra === null ? [] : [extra])]))
  },
  { weight: 1, arbitrary: anyValue }
)

/** A JSON text, spoiled now and then: cut short, a character replaced, a BOM, a comment, duplicate keys. */
const spoil = (json: fc.Arbitrary<Json>) =>
  fc.oneof(
    { weight: 20, arbitrary: json },
    { weight: 1, arbitrary: fc.tuple(json, fc.nat()).map(([t, n]) => t.slice(0, n % Math.max(t.length, 1))) },
    {
      weight: 1,
      arbitrary: fc.tuple(json, fc.nat(), fc.constantFrom("'", ",", "}", "\u0000", "\\", "\"", " ")).map(
        ([t, n, c]) => {
          const i = n % Math.max(t.length, 1)
          return t.slice(0, i) + c + t.slice(i + 1)
        }
      )
    },
    { weight: 1, arbitrary: json.map((t) => `\ufeff${t}`) },
    { weight: 1, arbitrary: json.map((t) => `/* c */${t}`) },
    { weight: 1, arbitrary: json.map((t) => t.replace(/^\{/, "{\"quantity\":1,\"quantity\":2,")) },
    { weight: 1, arbitrary: hostileString }
  )

const textBody = (json: fc.Arbitrary<Json>): fc.Arbitrary<Body> =>
  fc.tuple(
    spoil(json),
    fc.constantFrom(
      "utf8",
      "utf8",
      "utf8",
      "utf8",
      "utf8",
      "utf8",
      "utf8",
      "utf8",
      "latin1",
      "utf16le"
    ) as fc.Arbitrary<"utf8" | "latin1" | "utf16le">
  )
    .map(([text, encoding]) => ({ kind: "text", text, encoding }))

const largeBody: fc.Arbitrary<Body> = fc.record({
  kind: fc.constant("large" as const),
  bytes: fc.constantFrom(1024 * 1024 - 10, 1024 * 1024 + 1, 1024 * 1024 + 100_000, 3 * 1024 * 1024),
  chunked: fc.boolean()
})

// --- Headers ---------------------------------------------------------------------------------------

const contentType = fc.oneof(
  { weight: 12, arbitrary: fc.constant("application/json") },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      "application/json; charset=utf-8",
      "APPLICATION/JSON",
      "application/problem+json",
      "application/json; charset=utf-16",
      "text/plain",
      "",
      "application/x-www-form-urlencoded",
      "multipart/form-data; boundary=x",
      "*/*",
      ";;;",
      "application/jsonx",
      "application/json\u0000"
    )
  },
  { weight: 1, arbitrary: hostileString }
)

const idempotencyKey = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom("key-1", "key-2", "key-3", "key-4", "key-5") },
  { weight: 2, arbitrary: hostileString },
  { weight: 1, arbitrary: fc.constantFrom("", " ", "x".repeat(255), "x".repeat(256), "x".repeat(20_000)) }
)

const headers = (withBody: boolean) =>
  fc.record({
    contentType: withBody ? fc.option(contentType, { freq: 10 }) : fc.option(contentType, { freq: 1 }),
    key: fc.option(idempotencyKey, { freq: 2 }),
    secondKey: fc.option(idempotencyKey, { freq: 15 }),
    extra: fc.option(
      fc.constantFrom<readonly [string, string]>(
        ["content-encoding", "gzip"],
        ["expect", "100-continue"],
        ["accept", "text/html"],
        ["x-forwarded-for", "' OR 1=1 --"],
        ["cookie", "a".repeat(10_000)]
      ),
      { freq: 8 }
    )
  }).map(({ contentType, extra, key, secondKey }) => {
    const list: Array<readonly [string, string]> = []
    if (contentType !== null) list.push(["content-type", contentType])
    if (key !== null) list.push(["idempotency-key", key])
    if (secondKey !== null) list.push(["idempotency-key", secondKey])
    if (extra !== null) list.push(extra)
    return list
  })

// --- Paths -----------------------------------------------------------------------------------------

/** Every byte of the UTF-8 form percent-encoded but the unreserved ones (a lone surrogate too). */
const percentEncode = (s: string) =>
  Array.from(
    Buffer.from(s, "utf8"),
    (b) =>
      /[A-Za-z0-9\-._~]/.test(String.fromCharCode(b))
        ? String.fromCharCode(b)
        : `%${b.toString(16).toUpperCase().padStart(2, "0")}`
  ).join("")

/** A path segment: percent-encoded as a client should, or put in raw. */
const segment = (value: fc.Arbitrary<string>) =>
  fc.tuple(value, fc.integer({ min: 0, max: 5 })).map(([s, how]) => (how === 0 ? s : percentEncode(s)))

const skuSegment = segment(validSku)
const orderSegment = fc.oneof(
  { weight: 3, arbitrary: fc.constant("{order}") },
  { weight: 2, arbitrary: segment(hostileString) },
  { weight: 1, arbitrary: fc.uuid() }
)

const method = (expected: string) =>
  fc.oneof(
    { weight: 16, arbitrary: fc.constant(expected) },
    { weight: 2, arbitrary: fc.constantFrom("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "TRACE") },
    { weight: 1, arbitrary: fc.constantFrom("get", "FOO", "CONNECT", "PROPFIND", "G ET", "") }
  )

const query = fc.option(fc.constantFrom("?a=1", "?", "?quantity=5", "?%zz", "#frag", "?a=" + "b".repeat(5000)), {
  freq: 6
})

const request = (
  endpoint: Endpoint,
  expected: string,
  path: fc.Arbitrary<string>,
  body: fc.Arbitrary<Body> | undefined,
  /** One request in `withoutBody` has no body. */
  withoutBody = 12
): fc.Arbitrary<Hostile> =>
  fc.record({
    method: method(expected),
    path: fc.tuple(path, query).map(([p, q]) => p + (q ?? "")),
    headers: headers(body !== undefined),
    body: body === undefined
      ? fc.constant(undefined)
      : fc.option(body, { freq: withoutBody }).map((b) => b ?? undefined)
  }).map((r) => ({ endpoint, ...r }))

const unknownPath = fc.oneof(
  fc.constantFrom(
    "/",
    "//",
    "/inventory",
    "/inventory/",
    "/orders/",
    "/orders//cancel",
    "/../orders",
    "/%2e%2e/orders",
    "/favicon.ico",
    "/admin",
    "*"
  ),
  fc.array(segment(hostileString), { minLength: 1, maxLength: 5 }).map((s) => `/${s.join("/")}`),
  fc.integer({ min: 1_000, max: 20_000 }).map((n) => `/${"a".repeat(n)}`)
)

/** Bytes that are not a valid HTTP/1.1 request. */
const notHttp = fc.oneof(
  fc.constantFrom(
    "HELLO\r\n\r\n",
    "GET\r\n\r\n",
    "GET / HTTP/9.9\r\nHost: x\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: x\r\nbad header line\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: x\r\nX-A\u0000: b\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: x\r\nX-A: b\u0001c\r\n\r\n",
    "POST /orders HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    "POST /orders HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    "POST /orders HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
    "POST /orders HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    "POST /orders HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
    "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    "GET http://evil.example/orders HTTP/1.1\r\nHost: x\r\n\r\n",
    "GET /orders HTTP/1.1\r\n\r\n",
    "GET /orders HTTP/1.0\r\n\r\n",
    "GET /inventory/apple HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
    "CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n",
    "\u0016\u0003\u0001\u0002\u0000\u0001\u0000\u0001\u00fc\u0003\u0003"
  ),
  fc.string({ unit: "binary", minLength: 1, maxLength: 200 }).map((s) => `${s}\r\n\r\n`),
  fc.integer({ min: 17_000, max: 40_000 }).map((n) =>
    `GET /orders HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(n)}\r\n\r\n`
  )
)

export const hostile: fc.Arbitrary<Hostile> = fc.oneof(
  {
    weight: 5,
    arbitrary: request(
      "restock",
      "POST",
      skuSegment.map((s) => `/inventory/${s}/restock`),
      fc.oneof({ weight: 12, arbitrary: textBody(restockBody) }, { weight: 1, arbitrary: largeBody })
    )
  },
  { weight: 2, arbitrary: request("stock", "GET", skuSegment.map((s) => `/inventory/${s}`), undefined) },
  {
    weight: 6,
    arbitrary: request(
      "place",
      "POST",
      fc.constant("/orders"),
      fc.oneof({ weight: 12, arbitrary: textBody(orderBody) }, { weight: 1, arbitrary: largeBody })
    )
  },
  { weight: 2, arbitrary: request("order", "GET", orderSegment.map((s) => `/orders/${s}`), undefined) },
  {
    weight: 2,
    arbitrary: request("cancel", "POST", orderSegment.map((s) => `/orders/${s}/cancel`), textBody(anyValue), 2)
  },
  { weight: 2, arbitrary: request("none", "GET", unknownPath, textBody(anyValue), 2) },
  {
    weight: 1,
    arbitrary: notHttp.map((raw): Hostile => ({ endpoint: "none", method: "", path: "", headers: [], raw }))
  }
)

/**
 * Sent after the generated cases in every run, from a run the oracle once judged wrongly: a key of
 * 254 characters and an empty one reach the API as the 254 characters and a comma, a valid key;
 * with 255 characters that key is one too long.
 */
const regressions: ReadonlyArray<Hostile> = [254, 255].map((length) => ({
  endpoint: "place",
  method: "POST",
  path: "/orders?quantity=5",
  headers: [["content-type", "application/json"], ["idempotency-key", "x".repeat(length)], ["idempotency-key", ""]],
  body: { kind: "text", text: `{"customerId":"ada","lines":[{"sku":"pear","quantity":19}]}`, encoding: "utf8" }
}))

/** The cases of a run: generated ones, the same for the same seed, then the regressions. */
export const cases = (seed: number, count: number): ReadonlyArray<Hostile> => [
  ...fc.sample(hostile, { seed, numRuns: count }),
  ...regressions
]

/** The body's bytes (a large one: a JSON-looking string of that size). */
export const bodyBytes = (body: Body): Buffer =>
  body.kind === "text"
    ? Buffer.from(body.text, body.encoding)
    : Buffer.from(
      `{"customerId":"${"x".repeat(Math.max(body.bytes - 40, 0))}","lines":[]}`.slice(0, body.bytes).padEnd(
        body.bytes,
        " "
      )
    )

/** The request as bytes on the wire; `{order}` already replaced. */
export const wire = (request: Hostile, path: string): Buffer => {
  if (request.raw !== undefined) return Buffer.from(request.raw, "latin1")
  const body = request.body === undefined ? undefined : bodyBytes(request.body)
  const lines = [`${request.method} ${path} HTTP/1.1`, "host: 127.0.0.1", "connection: close"]
  for (const [name, value] of request.headers) lines.push(`${name}: ${value}`)
  if (body !== undefined) {
    lines.push(
      request.body?.kind === "large" && request.body.chunked
        ? "transfer-encoding: chunked"
        : `content-length: ${body.length}`
    )
  }
  const head = Buffer.from(`${lines.join("\r\n")}\r\n\r\n`, "utf8")
  if (body === undefined) return head
  if (request.body?.kind === "large" && request.body.chunked) {
    const chunks: Array<Buffer> = [head]
    for (let at = 0; at < body.length; at += 64 * 1024) {
      const chunk = body.subarray(at, at + 64 * 1024)
      chunks.push(Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from("\r\n"))
    }
    chunks.push(Buffer.from("0\r\n\r\n"))
    return Buffer.concat(chunks)
  }
  return Buffer.concat([head, body])
}
