/**
 * The catalog's Course aggregate: a draft gets lessons, students enroll (in a draft, as a
 * pre-registration, or once it is published), and a course with lessons is published once.
 * Enrollments are commands on the course, so its enrollments and its publication have one order.
 */
import { Either, Schema } from "effect"
import { Aggregate } from "effect-ddd"

export const CourseId = Schema.String.pipe(Schema.minLength(1), Schema.brand("CourseId"))
export type CourseId = typeof CourseId.Type

export const Title = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(200))
export const StudentId = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(100))

// --- Errors --------------------------------------------------------------------------------------------
export class CourseNotFound
  extends Schema.TaggedError<CourseNotFound>()("CourseNotFound", { courseId: Schema.String })
{
  override get message() {
    return `course ${this.courseId} does not exist`
  }
}

export class StudentAlreadyEnrolled extends Schema.TaggedError<StudentAlreadyEnrolled>()("StudentAlreadyEnrolled", {
  courseId: Schema.String,
  studentId: Schema.String
}) {
  override get message() {
    return `student ${this.studentId} is enrolled in course ${this.courseId} already`
  }
}

export class CourseHasNoLessons extends Schema.TaggedError<CourseHasNoLessons>()("CourseHasNoLessons", {
  courseId: Schema.String
}) {
  override get message() {
    return `course ${this.courseId} has no lessons: add one before publishing`
  }
}

export class CourseAlreadyPublished extends Schema.TaggedError<CourseAlreadyPublished>()("CourseAlreadyPublished", {
  courseId: Schema.String
}) {
  override get message() {
    return `course ${this.courseId} is published already`
  }
}

// --- Events --------------------------------------------------------------------------------------------
const CourseCreated = Schema.TaggedStruct("CourseCreated", { title: Schema.String })
const LessonAdded = Schema.TaggedStruct("LessonAdded", { title: Schema.String })
const StudentEnrolled = Schema.TaggedStruct("StudentEnrolled", { studentId: Schema.String })
const CoursePublished = Schema.TaggedStruct("CoursePublished", { title: Schema.String })

// --- The aggregate -------------------------------------------------------------------------------------
export const Course = Aggregate.make({
  name: "Course",
  id: CourseId,
  state: Schema.Struct({
    courseId: Schema.String,
    title: Schema.String,
    status: Schema.Literal("draft", "published"),
    lessons: Schema.Array(Schema.String),
    students: Schema.Array(Schema.String)
  }),
  events: Schema.Union(CourseCreated, LessonAdded, StudentEnrolled, CoursePublished)
})({
  initial: (courseId) => ({ courseId, title: "", status: "draft", lessons: [], students: [] }),
  evolve: {
    CourseCreated: (s, e) => ({ ...s, title: e.title }),
    LessonAdded: (s, e) => ({ ...s, lessons: [...s.lessons, e.title] }),
    StudentEnrolled: (s, e) => ({ ...s, students: [...s.students, e.studentId] }),
    CoursePublished: (s) => ({ ...s, status: "published" })
  }
})
  .command("create", {
    expects: "new",
    input: Schema.Struct({ title: Title }),
    decide: (_, input) => Either.right([CourseCreated.make(input)])
  })
  .command("addLesson", {
    expects: "existing",
    input: Schema.Struct({ title: Title }),
    decide: (_, input) => Either.right([LessonAdded.make(input)])
  })
  .command("enroll", {
    expects: "existing",
    input: Schema.Struct({ studentId: StudentId }),
    decide: (s, { studentId }) =>
      s.students.includes(studentId)
        ? Either.left(new StudentAlreadyEnrolled({ courseId: s.courseId, studentId }))
        : Either.right([StudentEnrolled.make({ studentId })])
  })
  .command("publish", {
    expects: "existing",
    input: Schema.Struct({}),
    decide: (s) =>
      s.status === "published"
        ? Either.left(new CourseAlreadyPublished({ courseId: s.courseId }))
        : s.lessons.length === 0
        ? Either.left(new CourseHasNoLessons({ courseId: s.courseId }))
        : Either.right([CoursePublished.make({ title: s.title })])
  })

export type CourseState = Aggregate.State<typeof Course>
