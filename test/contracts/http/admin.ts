/**
 * The admin API: only with `Authorization: Bearer <ADMIN_TOKEN>` (401 without it or with another
 * token, 403 when the server has none), the subscriptions' progress, and dead letters made by a
 * payment gateway outage (the server is unhealthy meanwhile), then redriven or discarded through
 * the API.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import { eventually, rawRequest, type Server, settled } from "../../support/server.js"
import { type Contract, expectJsonError, freshSku } from "./shared.js"

const adminRoutes: ReadonlyArray<readonly [string, string]> = [
  ["GET", "/admin/subscriptions"],
  ["GET", "/admin/dead-letters"],
  ["POST", "/admin/dead-letters/some-id/redrive"],
  ["DELETE", "/admin/dead-letters/some-id"]
]

const subscriptions = ["charge-payments", "OrderFulfilment", "OrderFulfilment.commands"]

export const adminContract = ({ admin, adminToken, call, gateway, next, placed, restock, start, stockOf }: Contract) =>
  describe("admin", () => {
    const chargePaymentsLag = async () => {
      const answer = await admin("GET", "/admin/subscriptions")
      return answer.body.subscriptions.find((s: { name: string }) => s.name === "charge-payments").lag as number
    }

    /** The dead letters of an order's payment. */
    const paymentDeadLetters = (orderId: string) =>
      admin("GET", `/admin/dead-letters?subscription=charge-payments&aggregateType=Payment&aggregateId=${orderId}`)

    it("without the token, or with another one, every admin endpoint is 401, and changes nothing", async () => {
      for (const [method, path] of adminRoutes) {
        for (
          const authorization of [undefined, "Bearer ", `Bearer ${adminToken}x`, `Basic ${adminToken}`, adminToken]
        ) {
          const answer = await rawRequest(next(), {
            method,
            path,
            headers: authorization === undefined ? {} : { authorization }
          })
          expectJsonError(answer, 401, "Unauthorized")
          expect(answer.headers["www-authenticate"]).toMatch(/^Bearer/)
        }
      }
    })

    describe("without ADMIN_TOKEN", () => {
      let servers: ReadonlyArray<Server> = []
      afterAll(async () => {
        expect(await Promise.all(servers.map((server) => server.stop()))).toEqual(servers.map(() => 0))
      })

      it("every admin endpoint is 403, whatever the token", async () => {
        servers = await start({})
        for (const server of servers) {
          for (const [method, path] of adminRoutes) {
            for (const headers of [{}, { authorization: `Bearer ${adminToken}` }, { authorization: "Bearer " }]) {
              expectJsonError(await rawRequest(server, { method, path, headers }), 403, "Forbidden")
            }
          }
        }
      })
    })

    it("GET /admin/subscriptions: each subscription's partitions, checkpoints, owners and dead letters", async () => {
      const sku = freshSku("progress")
      await restock(sku, 1)
      expect((await settled(next(), await placed({ customerId: "pam", lines: [{ sku, quantity: 1 }] }))).status).toBe(
        "confirmed"
      )
      const answer = await admin("GET", "/admin/subscriptions")
      expect([answer.status, answer.contentType]).toEqual([200, "application/json"])
      expect(answer.body.subscriptions.map((s: { name: string }) => s.name)).toEqual(subscriptions)
      for (const subscription of answer.body.subscriptions) {
        expect(subscription.partitions.map((p: { partition: number }) => p.partition)).toEqual([0, 1, 2, 3])
        expect(subscription.owners.length).toBeGreaterThan(0)
        expect(typeof subscription.deadLetters).toBe("number")
        expect(subscription.lag).toBe(subscription.partitions.reduce((sum: number, p: any) => sum + p.lag, 0))
        for (const partition of subscription.partitions) {
          expect(partition).toEqual({
            partition: partition.partition,
            checkpoint: { commitOrder: expect.any(Number), position: expect.any(Number) },
            lag: expect.any(Number),
            owner: expect.any(String),
            leaseExpiresAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/)
          })
          expect(subscription.owners).toContain(partition.owner)
        }
        // the order was delivered to every subscription: some partition has moved on
        expect(Math.max(...subscription.partitions.map((p: any) => p.checkpoint.position))).toBeGreaterThan(0)
      }
    })

    it("a payment the gateway cannot take is dead-lettered, then charged by a redrive through the API", async () => {
      const sku = freshSku("outage")
      await restock(sku, 5)
      gateway().setAvailable(false)
      let letter: any
      let orderId: string
      try {
        orderId = await placed({ customerId: "otto", lines: [{ sku, quantity: 2 }] })
        // while the payment is retried, it is not delivered: charge-payments lags behind
        await eventually(async () => expect(await chargePaymentsLag()).toBeGreaterThan(0))
        letter = await eventually(async () => {
          const answer = await paymentDeadLetters(orderId)
          expect(answer.body.deadLetters).toHaveLength(1)
          return answer.body.deadLetters[0]
        }, 30_000)
      } finally {
        gateway().setAvailable(true)
      }
      expect(letter).toMatchObject({
        subscription: "charge-payments",
        kind: "failed",
        status: "open",
        eventType: "PaymentRequested",
        aggregateType: "Payment",
        aggregateId: orderId
      })
      expect(letter.error).toContain("GatewayUnavailable")
      expect(letter.error).toContain("503")
      expect(letter.attempts).toBeGreaterThan(1)
      expect((await call("GET", `/orders/${orderId}`)).body.status).toBe("pending")
      // dead-lettered, the payment no longer holds the subscription back
      await eventually(async () => expect(await chargePaymentsLag()).toBe(0))
      // a dead letter makes the server unhealthy
      const unhealthy = await call("GET", "/health")
      expectJsonError(unhealthy, 503, "Unhealthy")
      expect(unhealthy.body.status).toBe("unhealthy")
      const reason = "charge-payments: dead letters 1 reached the unhealthy threshold 1"
      expect(unhealthy.body.reasons).toEqual([reason])
      expect(unhealthy.body.message).toBe(reason)
      expect(unhealthy.body.subscriptions.find((s: { subscription: string }) => s.subscription === "charge-payments"))
        .toMatchObject({ status: "unhealthy", deadLetters: 1 })
      const listed = await admin("GET", "/admin/dead-letters")
      expect(listed.body.deadLetters.map((l: { id: string }) => l.id)).toContain(letter.id)
      const progress = await admin("GET", "/admin/subscriptions")
      expect(progress.body.subscriptions.find((s: { name: string }) => s.name === "charge-payments").deadLetters)
        .toBeGreaterThan(0)

      const redrive = await admin("POST", `/admin/dead-letters/${encodeURIComponent(letter.id)}/redrive`)
      expect(redrive).toEqual({
        status: 200,
        contentType: "application/json",
        body: { id: letter.id, outcome: "delivered", deadLetters: [] }
      })
      expect((await settled(next(), orderId)).status).toBe("confirmed")
      // every attempt, the redriven one included, asked with the same idempotency key
      const keys = gateway().requests().filter((r) => r.customerId === "otto").map((r) => r.idempotencyKey)
      expect(keys.length).toBeGreaterThan(letter.attempts)
      expect(new Set(keys)).toEqual(new Set([letter.eventId]))
      await eventually(async () => expect(await stockOf(sku)).toMatchObject({ available: 3, reserved: 0, sold: 2 }))
      expect((await paymentDeadLetters(orderId)).body.deadLetters).toEqual([])
      expect((await call("GET", "/health")).body.status).toBe("healthy")
      const again = await admin("POST", `/admin/dead-letters/${encodeURIComponent(letter.id)}/redrive`)
      expectJsonError(again, 404, "DeadLetterNotFound")
      expect(again.body.id).toBe(letter.id)
    }, 60_000)

    it("a dead letter discarded through the API is gone, and its event is never delivered", async () => {
      const sku = freshSku("discard")
      await restock(sku, 5)
      gateway().setAvailable(false)
      let letter: any
      let orderId: string
      try {
        orderId = await placed({ customerId: "dora", lines: [{ sku, quantity: 1 }] })
        letter = await eventually(async () => {
          const answer = await paymentDeadLetters(orderId)
          expect(answer.body.deadLetters).toHaveLength(1)
          return answer.body.deadLetters[0]
        }, 30_000)
      } finally {
        gateway().setAvailable(true)
      }
      const discard = await admin("DELETE", `/admin/dead-letters/${encodeURIComponent(letter.id)}`)
      expect([discard.status, discard.body]).toEqual([204, ""])
      expect((await paymentDeadLetters(orderId)).body.deadLetters).toEqual([])
      expectJsonError(
        await admin("DELETE", `/admin/dead-letters/${encodeURIComponent(letter.id)}`),
        404,
        "DeadLetterNotFound"
      )
      expectJsonError(
        await admin("POST", `/admin/dead-letters/${encodeURIComponent(letter.id)}/redrive`),
        404,
        "DeadLetterNotFound"
      )
      // the payment was never charged: the order waits for it
      expect((await call("GET", `/orders/${orderId}`)).body.status).toBe("pending")
    }, 60_000)
  })
