/**
 * A rule that depends on another aggregate: a student enrolls only in a published course, and a
 * course never admits more students than it has seats. Three ways, on SQLite; run it with
 * `npx tsx examples/cross-aggregate-rule.ts`.
 */
import { SqliteClient } from "@effect/sql-sqlite-node"
import { Effect, Either, Layer, Schedule, Schema } from "effect"
import { CommandHandler, ProcessManager, Relay, Subscription } from "effect-ddd"
import { SqlEventStore } from "effect-ddd/sql"
import { Course, CourseId, CourseNotPublished, Enrollment, EnrollmentId, StudentId } from "./learning/Domain.js"

// 1. A precondition on the other aggregate, checked in the command's transaction: the course is
//    read and checked before the enrollment decides, and its version is asserted again after the
//    append; if the course changed in between, the handler's retry runs the command again.
export const enroll = (enrollmentId: EnrollmentId, courseId: CourseId, studentId: typeof StudentId.Type) =>
  CommandHandler.execute(Enrollment, enrollmentId, "enroll", { courseId, studentId }).pipe(
    CommandHandler.withPrecondition(
      Course,
      courseId,
      (course) => course.status === "published" ? Either.void : Either.left(new CourseNotPublished({ courseId }))
    )
  )

// 2. A process manager that validates and compensates: the enrollment is requested at once, the
//    course admits the student (or refuses) in its own transaction, and the enrollment is then
//    confirmed or rejected: eventually consistent, never blocked by the other aggregate.
export const Admission = ProcessManager.make({
  name: "Admission",
  state: Schema.Struct({ enrollmentId: EnrollmentId }),
  events: [Subscription.on(Enrollment, "EnrollmentRequested")],
  startedBy: ["EnrollmentRequested"],
  correlate: (event) => event.enrollmentId,
  sends: [Course, Enrollment]
})({
  initial: (id) => ({ enrollmentId: EnrollmentId.make(id) }),
  react: (state, input) => {
    switch (input._tag) {
      case "EnrollmentRequested":
        return { state, commands: [ProcessManager.send(Course, input.courseId, "admit", input)] }
      case "CommandSucceeded":
        return input.aggregateType === Course.name
          ? {
            state,
            commands: [ProcessManager.send(Enrollment, state.enrollmentId, "confirm", {})],
            end: ProcessManager.complete
          }
          : { state }
      case "CommandRejected":
        // the course refused: compensate by rejecting the enrollment, with the course's reason
        return {
          state,
          end: ProcessManager.compensate(input.error._tag, {
            then: [ProcessManager.send(Enrollment, state.enrollmentId, "reject", { reason: input.error.message })]
          })
        }
      case "DeadlineReached":
        return { state }
    }
  }
})

// 3. A true invariant (seats) stays in one aggregate: Course.admit checks the seats it owns, so two
//    concurrent admissions can never both take the last seat. (A precondition as in 1 could not
//    keep it: two enrollments would both see the last seat free, each writing only itself.)
export const admit = (courseId: CourseId, enrollmentId: EnrollmentId) =>
  CommandHandler.execute(Course, courseId, "admit", { enrollmentId })

const program = Effect.gen(function*() {
  const [draft, published] = [CourseId.make("draft-course"), CourseId.make("effect-101")]
  yield* CommandHandler.execute(Course, draft, "create", { title: "Draft", seats: 10 })
  yield* CommandHandler.execute(Course, published, "create", { title: "Effect 101", seats: 1 })
  yield* CommandHandler.execute(Course, published, "publish", {})
  const ada = StudentId.make("ada")

  // 1. the precondition: typed errors, nothing written when it does not hold
  const first = yield* enroll(EnrollmentId.make("e-1"), published, ada)
  yield* Effect.log(`1. enrolled in effect-101 at version ${first.version}`)
  const refused = yield* enroll(EnrollmentId.make("e-2"), draft, ada).pipe(
    Effect.catchTag("CourseNotPublished", (e) => Effect.succeed(e.message))
  )
  yield* Effect.log(`1. refused: ${refused}`)

  // 2. the process manager: requested now, confirmed or rejected by the relay
  for (const [id, course] of [["e-3", published], ["e-4", draft]] as const) {
    yield* CommandHandler.execute(Enrollment, EnrollmentId.make(id), "request", {
      enrollmentId: EnrollmentId.make(id),
      courseId: course,
      studentId: ada
    })
  }
  const settled = yield* Effect.forEach(
    ["e-3", "e-4"],
    (id) => CommandHandler.load(Enrollment, EnrollmentId.make(id)),
    { concurrency: 1 }
  ).pipe(
    Effect.filterOrFail((all) => all.every((e) => e.state.status !== "requested"), () => "still requested"),
    Effect.retry(Schedule.spaced("10 millis"))
  )
  for (const e of settled) {
    yield* Effect.log(`2. ${e.id}: ${e.state.status}${e.state.reason ? ` (${e.state.reason})` : ""}`)
  }

  // 3. the invariant in one aggregate: the course has one seat, taken by e-3 above
  const full = yield* admit(published, EnrollmentId.make("e-5")).pipe(
    Effect.catchTag("CourseFull", (e) => Effect.succeed(e.message))
  )
  yield* Effect.log(`3. ${full}`)
})

const MainLayer = Relay.layer({ subscriptions: [], processManagers: [Admission] }).pipe(
  Layer.provideMerge(CommandHandler.layer()),
  Layer.provideMerge(SqlEventStore.layer()),
  Layer.provide(SqliteClient.layer({ filename: ":memory:" }))
)

Effect.runPromise(program.pipe(Effect.provide(MainLayer)))
