/**
 * The documentation: `/openapi.json` is a valid OpenAPI 3.1 document (checked against the
 * specification's JSON schema) generated from the API definition, listing every endpoint with its
 * parameters, responses and JSON error bodies; `/docs` is the
 * Swagger UI page, with that document inside (it needs no other download).
 */
import { describe, expect, it } from "@effect/vitest"
import { Validator } from "@seriousme/openapi-schema-validator"
import { rawRequest } from "../../support/server.js"
import type { Contract } from "./shared.js"

const endpoints = [
  "delete /admin/dead-letters/{id}",
  "get /admin/dead-letters",
  "get /admin/subscriptions",
  "get /health",
  "get /inventory/{sku}",
  "get /metrics",
  "get /orders/{orderId}",
  "post /admin/dead-letters/{id}/redrive",
  "post /inventory/{sku}/restock",
  "post /orders",
  "post /orders/{orderId}/cancel"
]

/** Every `$ref` of a document: each must name one of its component schemas. */
const refsOf = (value: unknown): Array<string> =>
  Array.from(JSON.stringify(value).matchAll(/"\$ref":"([^"]+)"/g), (m) => m[1]!)

export const docsContract = ({ next }: Contract) =>
  describe("documentation", () => {
    it("GET /openapi.json is an OpenAPI 3.1 document of every endpoint", async () => {
      const answer = await rawRequest(next(), { method: "GET", path: "/openapi.json" })
      expect([answer.status, answer.contentType]).toEqual([200, "application/json"])
      const spec = answer.body
      // valid against the OpenAPI 3.1 specification's own schema
      const validator = new Validator()
      expect(await validator.validate(structuredClone(spec))).toEqual({ valid: true })
      expect(validator.version).toBe("3.1")
      expect(spec.openapi).toMatch(/^3\.1\.\d+$/)
      expect(spec.info).toEqual({ title: "Shop: orders and inventory", version: "1.0.0" })
      const operations = Object.entries<Record<string, any>>(spec.paths).flatMap(([path, item]) =>
        Object.entries(item).map(([method, operation]) => ({ key: `${method} ${path}`, path, operation }))
      )
      expect(operations.map((o) => o.key).sort()).toEqual(endpoints)
      expect(new Set(operations.map((o) => o.operation.operationId)).size).toBe(operations.length)

      const schemas = spec.components.schemas
      for (const ref of refsOf(spec)) expect(schemas[ref.replace("#/components/schemas/", "")], ref).toBeDefined()
      for (const { key, operation, path } of operations) {
        // every path parameter is declared, and required
        for (const [, name] of path.matchAll(/\{(\w+)\}/g)) {
          expect(operation.parameters, key).toContainEqual(
            expect.objectContaining({ name, in: "path", required: true })
          )
        }
        const statuses = Object.keys(operation.responses)
        expect(statuses.some((status) => status.startsWith("2")), key).toBe(true)
        // every error answer is an object with an error and a message
        for (const status of statuses.filter((s) => Number(s) >= 400)) {
          const schema = operation.responses[status].content["application/json"].schema
          for (const ref of refsOf(schema)) {
            const body = schemas[ref.replace("#/components/schemas/", "")]
            expect(body.required, `${key} ${status} ${ref}`).toEqual(expect.arrayContaining(["error", "message"]))
          }
        }
        expect(operation.responses["400"], key).toBeDefined()
        expect(operation.responses["503"], key).toBeDefined()
      }
      const byKey = Object.fromEntries(operations.map((o) => [o.key, o.operation]))
      expect(Object.keys(byKey["post /orders"].responses).sort()).toEqual(["202", "400", "413", "415", "422", "503"])
      expect(byKey["post /orders"].requestBody.content["application/json"].schema.required).toEqual([
        "customerId",
        "lines"
      ])
      expect(JSON.stringify(spec)).not.toContain("HttpApiDecodeError")
      expect(spec.components.securitySchemes.adminToken).toEqual({ type: "http", scheme: "bearer" })
      for (const { key, operation } of operations) {
        const isAdmin = key.includes(" /admin/")
        expect(operation.security, key).toEqual(isAdmin ? [{ adminToken: [] }] : [])
        if (isAdmin) expect(Object.keys(operation.responses), key).toEqual(expect.arrayContaining(["401", "403"]))
      }
    })

    it("GET /docs is the Swagger UI page, with the same document inside", async () => {
      const page = await rawRequest(next(), { method: "GET", path: "/docs" })
      expect([page.status, page.contentType]).toEqual([200, "text/html"])
      const html = page.body as string
      expect(html).toContain("<title>Shop: orders and inventory Documentation</title>")
      expect(html).toContain("SwaggerUIBundle")
      const embedded = /<script id="swagger-spec" type="application\/json">([\s\S]*?)<\/script>/.exec(html)?.[1]
      expect(embedded).toBeDefined()
      const spec = (await rawRequest(next(), { method: "GET", path: "/openapi.json" })).body
      expect(JSON.parse(embedded!)).toEqual(spec)
      expect(html).not.toMatch(/<script[^>]+src=/)
    })
  })
