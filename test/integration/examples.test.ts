import { describe, expect, it } from "@effect/vitest"
import { execFileSync } from "node:child_process"
import { request, settled, startServer, tempDataDir } from "../support/server.js"

describe("examples", () => {
  it("the quick start runs and prints what happened", () => {
    const output = execFileSync(process.execPath, ["--import", "tsx", "examples/quickstart.ts"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"]
    })
    expect(output).toContain("deposit replayed: true, balance 100")
    expect(output).toContain("refused: balance 70, requested 1000")
    expect(output).toContain("refused: the account is frozen")
    expect(output).toContain(`final state: {"owner":"Ada","balance":70,"frozen":true}`)
  })

  it("the subscriptions example settles both orders through the relay", () => {
    const output = execFileSync(process.execPath, ["--import", "tsx", "examples/subscriptions.ts"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      timeout: 120_000
    })
    const outcomes = [...output.matchAll(/order-\d: (confirmed|rejected \(insufficient stock\))/g)].map((m) => m[1])
      .sort()
    expect(outcomes).toEqual(["confirmed", "rejected (insufficient stock)"])
    expect(output).toContain("apple: 1 available, 2 reserved")
  })

  it("the cross-aggregate rule example enforces it three ways", () => {
    const output = execFileSync(process.execPath, ["--import", "tsx", "examples/cross-aggregate-rule.ts"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      timeout: 30_000
    })
    const messages = [...output.matchAll(/message="([^"]*)"/g)].map((m) => m[1])
    expect(messages).toEqual([
      "1. enrolled in effect-101 at version 1",
      "1. refused: course draft-course is not published",
      "2. e-3: enrolled",
      "2. e-4: rejected (course draft-course is not published)",
      "3. course effect-101 is full (seats: 1)"
    ])
  })

  it("the delivery example lists a dead letter through Relay.Relay and redrives it", () => {
    const output = execFileSync(process.execPath, ["--import", "tsx", "examples/delivery.ts"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      timeout: 30_000
    })
    const lines = [...output.matchAll(/level=(\w+) .*?message="([^"]*)"/g)].map((m) => ({
      level: m[1],
      message: m[2]!
    }))
    // the relay's own lines: each failed attempt a warning, the dead letter an error, the redrive info
    const relay = lines.filter((l) => l.message.startsWith("announcements: "))
    expect(relay.map((l) => [l.level, l.message.replace(/[0-9a-f-]{36}/, "<id>")])).toEqual([
      ...[1, 2, 3].map((attempt) => [
        "WARN",
        `announcements: delivery of CoursePublished <id> of Course/effect-101@2 failed (attempt ${attempt}), retried: MailerDown: the mail service is down`
      ]),
      [
        "ERROR",
        "announcements: CoursePublished <id> of Course/effect-101@2 dead-lettered (failed) after 3 attempt(s): MailerDown: the mail service is down"
      ],
      ["INFO", "announcements: redrive of 1 dead letter(s) of Course/effect-101 requested"],
      ["INFO", "announcements: redrive delivered CoursePublished <id> of Course/effect-101@2"]
    ])
    expect(lines.filter((l) => !l.message.startsWith("announcements: ")).map((l) => l.message)).toEqual([
      "effect-101 is delivered by partition 1 of 8",
      "dead letter: CoursePublished of effect-101 after 3 attempts (MailerDown: the mail service is down)",
      "redriven: 0 dead letters left, announced effect-101"
    ])
  })

  it("npm start runs the HTTP server example: an order is confirmed, and SIGTERM stops it with code 0", async () => {
    const server = await startServer({ DATA_DIR: tempDataDir() }, ["npm", "start"])
    try {
      expect(await request(server, "POST", "/inventory/apple/restock", { quantity: 3 })).toEqual({
        status: 200,
        contentType: "application/json",
        body: { sku: "apple", available: 3, reserved: 0, sold: 0 }
      })
      const placed = await request(server, "POST", "/orders", {
        customerId: "ada",
        lines: [{ sku: "apple", quantity: 2 }]
      })
      expect([placed.status, placed.body.status]).toEqual([202, "pending"])
      expect(await settled(server, placed.body.orderId)).toEqual({
        orderId: placed.body.orderId,
        customerId: "ada",
        lines: [{ sku: "apple", quantity: 2 }],
        status: "confirmed"
      })
    } finally {
      expect(await server.stop("SIGTERM")).toBe(0)
    }
    expect(server.output()).toContain("relay: deliveries finished")
  })

  it("the telemetry example reports health, Prometheus metrics and one trace across the relay", () => {
    const output = execFileSync(process.execPath, ["--import", "tsx", "examples/telemetry.ts"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      timeout: 120_000,
      env: { ...process.env, LOG_FORMAT: "json" }
    })
    const messages = output.trim().split("\n").map((line) => JSON.parse(line).message as string)
    expect(messages).toContain(
      `health: 200 [{"subscription":"reserve-stock","status":"healthy","lag":0,"oldestUndeliveredAgeMillis":0,"deadLetters":0,"reasons":[]}]`
    )
    expect(
      messages.some((m) =>
        /^effect_ddd_commands_total\{aggregate="Order",command="place",outcome="success".*\} 1$/.test(m)
      )
    )
      .toBe(true)
    const trace = messages.find((m) => m.startsWith("trace "))!.split(": ")[1]!.split(", ")
    expect(trace.filter((name) => name === "CommandHandler.execute")).toHaveLength(2)
    expect(trace).toEqual(expect.arrayContaining(["POST /orders", "Relay.deliver"]))
  })
})
