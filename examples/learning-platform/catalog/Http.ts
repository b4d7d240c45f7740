/** The catalog's handlers: each request is one command on a Course (or a read of one). */
import { HttpApiBuilder } from "@effect/platform"
import { Effect } from "effect"
import { Aggregate, CommandHandler, IdGenerator } from "effect-ddd"
import * as Infrastructure from "../../http-server/Infrastructure.js"
import { Api, type CourseView } from "./Api.js"
import { Course, CourseId, CourseNotFound, type CourseState } from "./Course.js"

const viewOf = (state: CourseState): CourseView => ({
  courseId: state.courseId,
  title: state.title,
  status: state.status,
  lessons: state.lessons.length,
  students: state.students.length
})

/** The course after a command on an existing course: an unknown one is a 404. */
const onCourse = (courseId: CourseId) =>
<E, R>(
  effect: Effect.Effect<
    { readonly state: CourseState },
    E | CommandHandler.IdempotencyKeyReused | Aggregate.AggregateNotFound,
    R
  >
) =>
  effect.pipe(
    Effect.map((result) => viewOf(result.state)),
    Effect.catchIf(
      (error): error is Aggregate.AggregateNotFound => error instanceof Aggregate.AggregateNotFound,
      () => Effect.fail(new CourseNotFound({ courseId }))
    ),
    // no idempotency key is given
    Effect.catchIf(
      (error): error is CommandHandler.IdempotencyKeyReused => error instanceof CommandHandler.IdempotencyKeyReused,
      Effect.die
    )
  )

export const CoursesLive = HttpApiBuilder.group(Api, "courses", (handlers) =>
  handlers
    .handle("create", ({ payload }) =>
      Effect.gen(function*() {
        const courseId = CourseId.make(yield* IdGenerator.next)
        const result = yield* CommandHandler.execute(Course, courseId, "create", payload)
        return viewOf(result.state)
      }).pipe(
        Effect.catchTags({ AggregateNotFound: Effect.die, IdempotencyKeyReused: Effect.die }),
        Infrastructure.handle
      ))
    .handle("addLesson", ({ path, payload }) =>
      CommandHandler.execute(Course, path.courseId, "addLesson", payload).pipe(
        onCourse(path.courseId),
        Infrastructure.handle
      ))
    .handle("enroll", ({ path, payload }) =>
      CommandHandler.execute(Course, path.courseId, "enroll", payload).pipe(
        onCourse(path.courseId),
        Infrastructure.handle
      ))
    .handle("publish", ({ path }) =>
      CommandHandler.execute(Course, path.courseId, "publish", {}).pipe(
        onCourse(path.courseId),
        Infrastructure.handle
      ))
    .handle("get", ({ path }) =>
      CommandHandler.load(Course, path.courseId).pipe(
        Effect.filterOrFail((course) => course.version > 0, () => new CourseNotFound({ courseId: path.courseId })),
        Effect.map((course) => viewOf(course.state)),
        Infrastructure.handle
      )))
