/**
 * The aggregate laws, checked on generated command sequences (run by `npm test`). A broken law
 * throws `AggregateLaws.LawBroken`, naming the law, the commands with their inputs and the step.
 */
import { expect, it } from "@effect/vitest"
import { FastCheck } from "effect"
import { Aggregate } from "effect-ddd"
import { AggregateLaws } from "effect-ddd/testing"
import { Course, EnrollmentId } from "./learning/Domain.js"

// inputs generated from the commands' schemas, biased towards boundaries (0, 1, -1, bounds, "", [])
it.prop("Course obeys the aggregate laws", [AggregateLaws.scenario(Course)], ([scenario]) => {
  AggregateLaws.check(Course, scenario)
})

// commands interact more when their inputs come from a small set: a few enrollments compete for
// the seats, and sequences are longer
const enrollmentIds = FastCheck.constantFrom(...["e-1", "e-2", "e-3"].map((id) => EnrollmentId.make(id)))

it.prop(
  "Course obeys the aggregate laws, and never admits more students than it has seats",
  [AggregateLaws.scenario(Course, {
    maxLength: 40,
    inputs: {
      create: FastCheck.record({
        title: FastCheck.constant("Effect 101"),
        seats: FastCheck.integer({ min: 1, max: 2 })
      }),
      admit: FastCheck.record({ enrollmentId: enrollmentIds })
    }
  })],
  ([scenario]) => {
    // check returns the events: assert anything else about the history on them
    const events = AggregateLaws.check(Course, scenario)
    const course = Aggregate.replay(Course, scenario.id, events)
    expect(course.admitted.length).toBeLessThanOrEqual(course.seats)
  },
  { fastCheck: { numRuns: 200 } }
)
