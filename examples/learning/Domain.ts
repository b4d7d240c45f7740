/**
 * A small learning platform: courses, and students' enrollments in them. Enrolling depends on
 * another aggregate (the course must be published), which `examples/cross-aggregate-rule.ts`
 * enforces in three ways.
 */
import { Either, Schema } from "effect"
import { Aggregate } from "effect-ddd"

export const CourseId = Schema.String.pipe(Schema.minLength(1), Schema.brand("CourseId"))
export type CourseId = typeof CourseId.Type
export const EnrollmentId = Schema.String.pipe(Schema.minLength(1), Schema.brand("EnrollmentId"))
export type EnrollmentId = typeof EnrollmentId.Type
export const StudentId = Schema.String.pipe(Schema.minLength(1), Schema.brand("StudentId"))

// --- Errors ------------------------------------------------------------------------------------------
export class CourseNotPublished extends Schema.TaggedError<CourseNotPublished>()("CourseNotPublished", {
  courseId: Schema.String
}) {
  override get message() {
    return `course ${this.courseId} is not published`
  }
}
export class CourseFull extends Schema.TaggedError<CourseFull>()("CourseFull", {
  courseId: Schema.String,
  seats: Schema.Int
}) {
  override get message() {
    return `course ${this.courseId} is full (seats: ${this.seats})`
  }
}
export class CourseNotDraft extends Schema.TaggedError<CourseNotDraft>()("CourseNotDraft", {
  courseId: Schema.String
}) {}

// --- Course ----------------------------------------------------------------------------------------------
// #region course
const CourseCreated = Schema.TaggedStruct("CourseCreated", { title: Schema.String, seats: Schema.Int })
const CoursePublished = Schema.TaggedStruct("CoursePublished", {})
const CourseClosed = Schema.TaggedStruct("CourseClosed", {})
const StudentAdmitted = Schema.TaggedStruct("StudentAdmitted", { enrollmentId: EnrollmentId })

export const Course = Aggregate.make({
  name: "Course",
  id: CourseId,
  state: Schema.Struct({
    id: Schema.String,
    status: Schema.Literal("draft", "published", "closed"),
    seats: Schema.Int,
    admitted: Schema.Array(EnrollmentId)
  }),
  events: Schema.Union(CourseCreated, CoursePublished, CourseClosed, StudentAdmitted)
})({
  initial: (id) => ({ id, status: "draft", seats: 0, admitted: [] }),
  evolve: {
    CourseCreated: (s, e) => ({ ...s, seats: e.seats }),
    CoursePublished: (s) => ({ ...s, status: "published" }),
    CourseClosed: (s) => ({ ...s, status: "closed" }),
    StudentAdmitted: (s, e) => ({ ...s, admitted: [...s.admitted, e.enrollmentId] })
  }
})
  .command("create", {
    expects: "new",
    input: Schema.Struct({ title: Schema.String, seats: Schema.Int.pipe(Schema.positive()) }),
    decide: (_, input) => Either.right([CourseCreated.make(input)])
  })
  .command("publish", {
    expects: "existing",
    input: Schema.Struct({}),
    decide: (s) =>
      s.status === "published"
        ? Either.right([])
        : s.status === "draft"
        ? Either.right([CoursePublished.make({})])
        : Either.left(new CourseNotDraft({ courseId: s.id }))
  })
  .command("close", {
    expects: "existing",
    input: Schema.Struct({}),
    decide: (s) => Either.right(s.status === "closed" ? [] : [CourseClosed.make({})])
  })
  // a true invariant (never more students than seats) lives in the aggregate that owns the seats
  .command("admit", {
    expects: "existing",
    input: Schema.Struct({ enrollmentId: EnrollmentId }),
    decide: (s, { enrollmentId }) =>
      s.admitted.includes(enrollmentId)
        ? Either.right([])
        : s.status !== "published"
        ? Either.left(new CourseNotPublished({ courseId: s.id }))
        : s.admitted.length >= s.seats
        ? Either.left(new CourseFull({ courseId: s.id, seats: s.seats }))
        : Either.right([StudentAdmitted.make({ enrollmentId })])
  })
// #endregion course

// --- Enrollment ------------------------------------------------------------------------------------------
// #region enrollment
const Enrolled = Schema.TaggedStruct("Enrolled", { courseId: CourseId, studentId: StudentId })
const EnrollmentRequested = Schema.TaggedStruct("EnrollmentRequested", {
  enrollmentId: EnrollmentId,
  courseId: CourseId,
  studentId: StudentId
})
const EnrollmentConfirmed = Schema.TaggedStruct("EnrollmentConfirmed", {})
const EnrollmentRejected = Schema.TaggedStruct("EnrollmentRejected", { reason: Schema.String })

export const Enrollment = Aggregate.make({
  name: "Enrollment",
  id: EnrollmentId,
  state: Schema.Struct({
    courseId: Schema.String,
    studentId: Schema.String,
    status: Schema.Literal("none", "requested", "enrolled", "rejected"),
    reason: Schema.optional(Schema.String)
  }),
  events: Schema.Union(Enrolled, EnrollmentRequested, EnrollmentConfirmed, EnrollmentRejected)
})({
  initial: () => ({ courseId: "", studentId: "", status: "none" }),
  evolve: {
    Enrolled: (s, e) => ({ ...s, courseId: e.courseId, studentId: e.studentId, status: "enrolled" }),
    EnrollmentRequested: (s, e) => ({ ...s, courseId: e.courseId, studentId: e.studentId, status: "requested" }),
    EnrollmentConfirmed: (s) => ({ ...s, status: "enrolled" }),
    EnrollmentRejected: (s, e) => ({ ...s, status: "rejected", reason: e.reason })
  }
})
  // enrolled at once: the caller has checked the course (CommandHandler.withPrecondition)
  .command("enroll", {
    expects: "new",
    input: Schema.Struct({ courseId: CourseId, studentId: StudentId }),
    decide: (_, input) => Either.right([Enrolled.make(input)])
  })
  // enrolled later, once a process manager has had the course admit the student
  .command("request", {
    expects: "new",
    input: Schema.Struct({ enrollmentId: EnrollmentId, courseId: CourseId, studentId: StudentId }),
    decide: (_, input) => Either.right([EnrollmentRequested.make(input)])
  })
  .command("confirm", {
    expects: "existing",
    input: Schema.Struct({}),
    decide: (s) => Either.right(s.status === "requested" ? [EnrollmentConfirmed.make({})] : [])
  })
  .command("reject", {
    expects: "existing",
    input: Schema.Struct({ reason: Schema.String }),
    decide: (s, { reason }) => Either.right(s.status === "requested" ? [EnrollmentRejected.make({ reason })] : [])
  })
// #endregion enrollment
