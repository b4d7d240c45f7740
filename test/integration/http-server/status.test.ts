/**
 * The status page in a real browser: Debian's chromium (`/usr/bin/chromium`, headless) driven by
 * playwright-core, on the example server over real HTTP (SQLite). A payment gateway outage makes
 * a dead letter; the page shows it with the subscriptions and their lag, and redrives it. Without
 * chromium the browser tests are skipped, except in CI (`CI=true`), where they fail.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { randomUUID } from "node:crypto"
import { existsSync } from "node:fs"
import { type Browser, chromium, type Page } from "playwright-core"
import { type Gateway, startGateway } from "../../support/gateway.js"
import { eventually, request, type Server, settled, startServer, tempDataDir } from "../../support/server.js"

const executablePath = "/usr/bin/chromium"
const installed = existsSync(executablePath)

const subscriptions = ["charge-payments", "OrderFulfilment", "OrderFulfilment.commands"]

describe.skipIf(!installed && process.env.CI !== "true")("status page (chromium)", () => {
  const adminToken = randomUUID()
  let gateway: Gateway
  let server: Server
  let launched: Browser | undefined
  /** Uncaught errors in the pages' scripts. */
  const pageErrors: Array<string> = []

  const admin = (method: string, path: string) =>
    request(server, method, path, undefined, { authorization: `Bearer ${adminToken}` })

  /** The browser, launched once; without chromium every test that needs it fails with why. */
  const browser = async (): Promise<Browser> => {
    if (!installed) {
      throw new Error(`${executablePath} is missing: install Debian's chromium (apt-get install chromium)`)
    }
    return launched ??= await chromium.launch({ executablePath, headless: true })
  }

  const open = async (): Promise<Page> => {
    const page = await (await (await browser()).newContext()).newPage()
    page.on("pageerror", (error) => pageErrors.push(error.message))
    await page.goto(`${server.url}/status`)
    return page
  }

  const signIn = async (page: Page, token: string) => {
    await page.getByLabel("Admin token").fill(token)
    await page.getByRole("button", { name: "Open" }).click()
  }

  beforeAll(async () => {
    gateway = await startGateway()
    server = await startServer({
      DATA_DIR: tempDataDir(),
      ADMIN_TOKEN: adminToken,
      PAYMENT_GATEWAY_URL: gateway.url,
      PAYMENT_TIMEOUT: "2 minutes"
    })
  })
  afterAll(async () => {
    await launched?.close()
    const code = await server?.stop()
    await gateway?.close()
    expect(code).toBe(0)
    expect(pageErrors).toEqual([])
  })

  it("GET /status is one HTML page that loads nothing from elsewhere, served without the token", async () => {
    const response = await fetch(`${server.url}/status`)
    expect([response.status, response.headers.get("content-type")]).toEqual([200, "text/html"])
    expect(response.headers.get("content-security-policy")).toContain("connect-src 'self'")
    const html = await response.text()
    expect(html).toContain("<title>Shop status</title>")
    expect(html).not.toMatch(/<(script|link|img)[^>]+(src|href)=/)
    expect((await fetch(`${server.url}/status`, { method: "POST" })).status).toBe(405)
  })

  it("asks for the token, and refuses a wrong one", async () => {
    const page = await open()
    expect(await page.getByLabel("Admin token").isVisible()).toBe(true)
    expect(await page.locator("#status").isVisible()).toBe(false)
    await signIn(page, `${adminToken}x`)
    await page.getByRole("alert").filter({ hasText: "the admin token is wrong" }).waitFor()
    expect(await page.locator("#status").isVisible()).toBe(false)
    expect(await page.evaluate("sessionStorage.length")).toBe(0)
    await page.context().close()
  })

  it("shows the subscriptions, their lag over time and a dead letter, and redrives it", async () => {
    const sku = `status-${randomUUID().slice(0, 8)}`
    expect((await request(server, "POST", `/inventory/${sku}/restock`, { quantity: 5 })).status).toBe(200)
    gateway.setAvailable(false)
    let letter: any
    let orderId: string
    try {
      const placed = await request(server, "POST", "/orders", { customerId: "stella", lines: [{ sku, quantity: 2 }] })
      expect(placed.status).toBe(202)
      orderId = placed.body.orderId
      letter = await eventually(async () => {
        const answer = await admin("GET", `/admin/dead-letters?aggregateType=Payment&aggregateId=${orderId}`)
        expect(answer.body.deadLetters).toHaveLength(1)
        return answer.body.deadLetters[0]
      }, 30_000)
    } finally {
      gateway.setAvailable(true)
    }

    const page = await open()
    await signIn(page, adminToken)
    const rows = page.locator("tr[data-subscription]")
    await rows.first().waitFor()
    expect(await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-subscription")))).toEqual(
      subscriptions
    )
    const charges = page.locator(`tr[data-subscription="charge-payments"]`)
    expect(await charges.locator("td").nth(3).textContent()).toBe("1")
    expect(await charges.locator("td").nth(4).textContent()).toMatch(/^relay-/)
    // the chart gains a point at each poll (every 2 s)
    const points = () => charges.locator("polyline").getAttribute("points").then((p) => p!.trim().split(/\s+/).length)
    await eventually(async () => expect(await points()).toBeGreaterThanOrEqual(2), 60_000)
    for (const point of (await charges.locator("polyline").getAttribute("points"))!.trim().split(/\s+/)) {
      expect(point).toMatch(/^\d+(\.\d+)?,\d+(\.\d+)?$/)
    }

    const row = page.locator(`tr[data-dead-letter="${letter.id}"]`)
    await row.waitFor()
    expect(await row.textContent()).toContain("PaymentRequested")
    expect(await row.textContent()).toContain(`Payment ${orderId!}`)
    expect(await row.locator("td.error").textContent()).toContain("GatewayUnavailable")

    await row.getByRole("button", { name: "Redrive" }).click()
    await row.waitFor({ state: "detached" })
    await page.getByText(`PaymentRequested of ${orderId!} redriven: delivered`).waitFor()
    expect(await page.getByText("None.").isVisible()).toBe(true)
    expect(await charges.locator("td").nth(3).textContent()).toBe("0")
    expect((await settled(server, orderId!)).status).toBe("confirmed")
    expect((await admin("GET", "/admin/dead-letters")).body.deadLetters).toEqual([])

    // the tab keeps the token: a reload shows the status at once, until the token is forgotten
    await page.reload()
    await rows.first().waitFor()
    expect(await page.getByLabel("Admin token").isVisible()).toBe(false)
    await page.getByRole("button", { name: "Forget the token" }).click()
    expect(await page.getByLabel("Admin token").isVisible()).toBe(true)
    expect(await page.evaluate("sessionStorage.length")).toBe(0)
    await page.context().close()
  }, 60_000)
})
