/** What the contract's parts share: the servers under test, requests to them, expectations. */
import { expect } from "@effect/vitest"
import { randomUUID } from "node:crypto"
import type { Gateway } from "../../support/gateway.js"
import type { Answer, Server } from "../../support/server.js"

export interface Contract {
  /** The next server in turn (the same one when there is only one). */
  readonly next: () => Server
  readonly call: (method: string, path: string, body?: unknown, headers?: Record<string, string>) => Promise<Answer>
  /** A request with the admin token. */
  readonly admin: (method: string, path: string) => Promise<Answer>
  readonly adminToken: string
  /** The payment gateway the servers charge through. */
  readonly gateway: () => Gateway
  /** Start other servers on a new database, with the given environment. */
  readonly start: (env: Readonly<Record<string, string>>) => Promise<ReadonlyArray<Server>>
  readonly restock: (sku: string, quantity: number) => Promise<any>
  readonly stockOf: (sku: string) => Promise<any>
  readonly place: (body: unknown, headers?: Record<string, string>) => Promise<Answer>
  /** Place an order that must be accepted; its id. */
  readonly placed: (body: unknown) => Promise<string>
}

/** A SKU no other test uses. */
export const freshSku = (name: string): string => `${name}-${randomUUID().slice(0, 8)}`

/** A JSON error answer: `{ "error": <tag>, "message": <words> }` with the status. */
export const expectJsonError = (answer: Answer, status: number, error?: string): void => {
  expect({ status: answer.status, contentType: answer.contentType }).toEqual({
    status,
    contentType: "application/json"
  })
  expect(typeof answer.body).toBe("object")
  expect(typeof answer.body.error).toBe("string")
  expect(typeof answer.body.message).toBe("string")
  expect(answer.body.message.length).toBeGreaterThan(0)
  expect(answer.body).not.toHaveProperty("_tag")
  if (error !== undefined) expect(answer.body.error).toBe(error)
}
