import { describe, expect, it } from "@effect/vitest"
import { Health, MemoryEventStore } from "effect-ddd"
import { suite } from "../contracts/HealthContract.js"

describe("Health.evaluate", () => {
  it("judges each measure against its thresholds; the worst wins", () => {
    const thresholds: Health.Thresholds = {
      lag: { degraded: 10, unhealthy: 100 },
      oldestUndeliveredAge: { degraded: "30 seconds", unhealthy: "2 minutes" },
      deadLetters: { unhealthy: 1 }
    }
    expect(Health.evaluate("s", { lag: 9, oldestUndeliveredAgeMillis: 29_999, deadLetters: 0 }, thresholds))
      .toEqual({
        subscription: "s",
        status: "healthy",
        lag: 9,
        oldestUndeliveredAgeMillis: 29_999,
        deadLetters: 0,
        reasons: []
      })
    expect(Health.evaluate("s", { lag: 10, oldestUndeliveredAgeMillis: 30_000, deadLetters: 0 }, thresholds))
      .toMatchObject({
        status: "degraded",
        reasons: [
          "lag 10 events reached the degraded threshold 10 events",
          "oldest undelivered event age 30s reached the degraded threshold 30s"
        ]
      })
    expect(Health.evaluate("s", { lag: 100, oldestUndeliveredAgeMillis: 0, deadLetters: 0 }, thresholds).status).toBe(
      "unhealthy"
    )
    expect(Health.evaluate("s", { lag: 0, oldestUndeliveredAgeMillis: 120_000, deadLetters: 0 }, thresholds).status)
      .toBe("unhealthy")
    expect(Health.evaluate("s", { lag: 0, oldestUndeliveredAgeMillis: 0, deadLetters: 1 }, thresholds).status).toBe(
      "unhealthy"
    )
    // the defaults: dead letters degrade at 1, lag at 1,000
    expect(Health.evaluate("s", { lag: 999, oldestUndeliveredAgeMillis: 0, deadLetters: 1 }).status).toBe("degraded")
  })
})

suite("memory", MemoryEventStore.layer)
