/**
 * The HTTP contract of the example server, over real HTTP, run on SQLite (one process) and on
 * PostgreSQL (two processes sharing the database: requests alternate between them, so what one
 * process wrote the other serves). The servers charge payments through a gateway over HTTP
 * (`test/support/gateway.ts`), which the admin tests take down to make dead letters.
 */
import { afterAll, beforeAll, describe, expect } from "@effect/vitest"
import { randomUUID } from "node:crypto"
import { type Gateway, startGateway } from "../../support/gateway.js"
import { request, type Server } from "../../support/server.js"
import { adminContract } from "./admin.js"
import { docsContract } from "./docs.js"
import { errorsContract } from "./errors.js"
import { hostileContract } from "./hostile.js"
import { observabilityContract } from "./observability.js"
import { ordersContract } from "./orders.js"
import type { Contract } from "./shared.js"

export const contractSuite = (
  name: string,
  start: (env: Readonly<Record<string, string>>) => Promise<ReadonlyArray<Server>>
) =>
  describe(`HTTP contract: ${name}`, () => {
    const adminToken = randomUUID()
    let servers: ReadonlyArray<Server> = []
    let gateway: Gateway | undefined
    let turn = 0
    const next = () => servers[turn++ % servers.length]!
    const call: Contract["call"] = (method, path, body, headers) => request(next(), method, path, body, headers)
    const contract: Contract = {
      next,
      call,
      admin: (method, path) => call(method, path, undefined, { authorization: `Bearer ${adminToken}` }),
      adminToken,
      gateway: () => gateway!,
      start,
      restock: async (sku, quantity) => {
        const answer = await call("POST", `/inventory/${sku}/restock`, { quantity })
        expect(answer.status).toBe(200)
        return answer.body
      },
      stockOf: async (sku) => (await call("GET", `/inventory/${sku}`)).body,
      place: (body, headers) => call("POST", "/orders", body, headers),
      placed: async (body) => {
        const answer = await call("POST", "/orders", body)
        expect(answer.status).toBe(202)
        return answer.body.orderId as string
      }
    }

    beforeAll(async () => {
      gateway = await startGateway()
      // orders wait for a payment long enough for a dead letter to be redriven
      servers = await start({ ADMIN_TOKEN: adminToken, PAYMENT_GATEWAY_URL: gateway.url, PAYMENT_TIMEOUT: "2 minutes" })
    })
    afterAll(async () => {
      const codes = await Promise.all(servers.map((server) => server.stop()))
      await gateway?.close()
      expect(codes).toEqual(servers.map(() => 0))
    })

    ordersContract(contract)
    errorsContract(contract)
    hostileContract(contract)
    docsContract(contract)
    observabilityContract(contract)
    adminContract(contract)
  })
