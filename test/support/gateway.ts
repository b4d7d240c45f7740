/**
 * A payment gateway over real HTTP for the example server (`PAYMENT_GATEWAY_URL`): `POST /charges`
 * charges every customer but those whose id starts with "declined-", like the server's in-process
 * fake, until it is taken down (503 to every request) and brought back up.
 */
import { createServer } from "node:http"

export interface Gateway {
  readonly url: string
  /** Answer 503 to every charge while down. */
  readonly setAvailable: (available: boolean) => void
  /** The charges asked for, by idempotency key (refused ones included). */
  readonly requests: () => ReadonlyArray<{ readonly customerId: string; readonly idempotencyKey: string }>
  readonly close: () => Promise<void>
}

export const startGateway = async (): Promise<Gateway> => {
  let available = true
  const requests: Array<{ customerId: string; idempotencyKey: string }> = []
  const server = createServer((req, res) => {
    let text = ""
    req.setEncoding("utf8").on("data", (data: string) => (text += data)).on("end", () => {
      const answer = (status: number, body: unknown) =>
        res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body))
      if (req.method !== "POST" || req.url !== "/charges") return answer(404, { error: "NotFound" })
      const charge = JSON.parse(text) as { customerId: string; idempotencyKey: string }
      requests.push(charge)
      if (req.headers["idempotency-key"] !== charge.idempotencyKey) {
        return answer(400, { error: "IdempotencyKeyMissing" })
      }
      if (!available) return answer(503, { error: "Unavailable" })
      answer(200, { outcome: charge.customerId.startsWith("declined-") ? "declined" : "charged" })
    })
  })
  // keep-alive connections from the servers under test must not hold the close back
  server.keepAliveTimeout = 100
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address() as { port: number }
  return {
    url: `http://127.0.0.1:${port}`,
    setAvailable: (value) => {
      available = value
    },
    requests: () => requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
}
