/**
 * The types users see when they define commands: checked by the compiler (`npm run typecheck`
 * compiles this file; `expectTypeOf` and `@ts-expect-error` fail the typecheck when a type is
 * wrong), with a few runtime checks of the same definitions.
 */
import { describe, expect, expectTypeOf, it } from "@effect/vitest"
import { Effect, Either, Schema } from "effect"
import { Aggregate, CommandHandler } from "effect-ddd"

const CourseId = Schema.String.pipe(Schema.brand("CourseId"))
const LessonAdded = Schema.TaggedStruct("LessonAdded", { title: Schema.String })
const Published = Schema.TaggedStruct("Published", {})
const Unrelated = Schema.TaggedStruct("Unrelated", {})
class NotDraft extends Schema.TaggedError<NotDraft>()("NotDraft", {}) {}
class NoLessons extends Schema.TaggedError<NoLessons>()("NoLessons", {}) {}
class TitleTaken extends Schema.TaggedError<TitleTaken>()("TitleTaken", { title: Schema.String }) {}

type State = { readonly draft: boolean; readonly lessons: ReadonlyArray<string> }
type Event = typeof LessonAdded.Type | typeof Published.Type

const Definition = Aggregate.make({
  name: "Course",
  id: CourseId,
  state: Schema.Struct({ draft: Schema.Boolean, lessons: Schema.Array(Schema.String) }),
  events: Schema.Union(LessonAdded, Published)
})({
  initial: () => ({ draft: true, lessons: [] }),
  evolve: {
    LessonAdded: (s, e) => ({ ...s, lessons: [...s.lessons, e.title] }),
    Published: (s) => ({ ...s, draft: false })
  }
})

/** A rule checked by a function of its own, returning one of two errors. */
const checkTitle = (state: State, title: string): Either.Either<void, NotDraft | TitleTaken> =>
  !state.draft ? Either.left(new NotDraft()) : state.lessons.includes(title)
    ? Either.left(new TitleTaken({ title }))
    : Either.void

const Course = Definition
  // two rules, two errors, no annotation
  .command("publish", {
    expects: "existing",
    input: Schema.Struct({}),
    decide: (s) =>
      !s.draft
        ? Either.left(new NotDraft())
        : s.lessons.length === 0
        ? Either.left(new NoLessons())
        : Either.right([Published.make({})])
  })
  // errors that come from a helper, mapped into the events
  .command("addLesson", {
    expects: "existing",
    input: Schema.Struct({ title: Schema.String }),
    decide: (s, { title }) => Either.map(checkTitle(s, title), () => [LessonAdded.make({ title })])
  })
  // no error at all
  .command("create", {
    expects: "new",
    input: Schema.Struct({}),
    decide: () => Either.right([])
  })
  // the annotated style keeps working
  .command("annotated", {
    expects: "any",
    input: Schema.Struct({ n: Schema.Int }),
    decide: (_, { n }): Either.Either<ReadonlyArray<Event>, NoLessons> =>
      n === 0 ? Either.left(new NoLessons()) : Either.right([])
  })

const id = CourseId.make("c-1")

describe("Aggregate types", () => {
  it("a command's error type is the union of every error its decide returns", () => {
    expectTypeOf<Aggregate.DomainError<typeof Course, "publish">>().toEqualTypeOf<NotDraft | NoLessons>()
    expectTypeOf<Aggregate.DomainError<typeof Course, "addLesson">>().toEqualTypeOf<NotDraft | TitleTaken>()
    expectTypeOf<Aggregate.DomainError<typeof Course, "create">>().toEqualTypeOf<never>()
    expectTypeOf<Aggregate.DomainError<typeof Course, "annotated">>().toEqualTypeOf<NoLessons>()
    // what a hover shows: the command with its inferred input and errors
    expectTypeOf(Course.commands.publish).toEqualTypeOf<Aggregate.Command<State, Event, {}, NotDraft | NoLessons>>()
    expectTypeOf(Course.commands.addLesson).toEqualTypeOf<
      Aggregate.Command<State, Event, { readonly title: string }, NotDraft | TitleTaken>
    >()

    const published = Aggregate.decide(Course, { id, state: { draft: true, lessons: [] }, version: 1 }, "publish", {})
    expectTypeOf(published).toEqualTypeOf<
      Either.Either<
        Aggregate.Decision<State, Event>,
        NotDraft | NoLessons | Aggregate.AggregateNotFound | Aggregate.AggregateAlreadyExists
      >
    >()
    expect(Either.isLeft(published) && published.left).toEqual(new NoLessons())
    const again = Aggregate.decide(Course, { id, state: { draft: false, lessons: ["a"] }, version: 2 }, "publish", {})
    expect(Either.isLeft(again) && again.left).toEqual(new NotDraft())
    const ok = Aggregate.decide(Course, { id, state: { draft: true, lessons: ["a"] }, version: 2 }, "publish", {})
    expect(Either.isRight(ok) && ok.right).toEqual({
      state: { draft: false, lessons: ["a"] },
      events: [{ _tag: "Published" }]
    })
  })

  it("the errors reach CommandHandler.execute, where catchTags handles each by its tag", () => {
    const publish = CommandHandler.execute(Course, id, "publish", {})
    expectTypeOf<Extract<Effect.Effect.Error<typeof publish>, NotDraft | NoLessons | TitleTaken>>()
      .toEqualTypeOf<NotDraft | NoLessons>()
    const handled = publish.pipe(
      Effect.catchTags({
        NotDraft: () => Effect.succeed("published already"),
        NoLessons: () => Effect.succeed("empty")
      })
    )
    expectTypeOf(handled).toEqualTypeOf<
      Effect.Effect<
        CommandHandler.Result<typeof Course> | string,
        Exclude<Effect.Effect.Error<typeof publish>, NotDraft | NoLessons>,
        CommandHandler.CommandHandler
      >
    >()
    // never run: the checks are the compiler's
    const typeOnly = () => {
      publish.pipe(
        // @ts-expect-error TitleTaken is not an error of publish
        Effect.catchTags({ TitleTaken: () => Effect.succeed("") })
      )
      // @ts-expect-error wrong input type
      CommandHandler.execute(Course, id, "addLesson", { title: 1 })
      // @ts-expect-error missing input field
      CommandHandler.execute(Course, id, "addLesson", {})
    }
    expect(typeof typeOnly).toBe("function")
  })

  it("decide's parameters are typed by the state and the input schema", () => {
    Definition.command("probe", {
      expects: "any",
      input: Schema.Struct({ count: Schema.Int }),
      decide: (state, input) => {
        expectTypeOf(state).toEqualTypeOf<State>()
        expectTypeOf(input).toEqualTypeOf<{ readonly count: number }>()
        return Either.right([])
      }
    })
  })

  it("events outside the union, non-array results and mismatched inputs do not compile", () => {
    const foreign = Definition.command("foreign", {
      expects: "any",
      input: Schema.Struct({}),
      // @ts-expect-error Unrelated is not in the aggregate's event union (even among several errors)
      decide: (s) => (!s.draft ? Either.left(new NotDraft()) : Either.right([Unrelated.make({})]))
    })
    Definition.command("single", {
      expects: "any",
      input: Schema.Struct({}),
      // @ts-expect-error a decision returns an array of events, not one event
      decide: () => Either.right(Published.make({}))
    })
    Definition.command("mismatch", {
      expects: "any",
      input: Schema.Struct({ title: Schema.String }),
      // @ts-expect-error the input parameter must accept what the input schema decodes to
      decide: (_: State, input: { readonly title: number }) => Either.right(input.title > 0 ? [] : [])
    })
    Definition.command("state", {
      expects: "any",
      input: Schema.Struct({}),
      // @ts-expect-error the state parameter is the aggregate's state
      decide: (s: { readonly other: string }) => Either.right(s.other === "" ? [] : [])
    })
    expect(Object.keys(foreign.commands)).toEqual(["foreign"])
  })

  it("withPersistence is dual: data-first and pipeable, with the same type", () => {
    const first = Aggregate.withPersistence(Course, Aggregate.eventSourced({ snapshotEvery: 5 }))
    const piped = Course.pipe(Aggregate.withPersistence(Aggregate.eventSourced({ snapshotEvery: 5 })))
    expectTypeOf(first).toEqualTypeOf<typeof Course>()
    expectTypeOf(piped).toEqualTypeOf<typeof Course>()
    for (const sourced of [first, piped]) {
      expect(sourced.persistence).toEqual({ _tag: "EventSourced", snapshotEvery: 5 })
      expect(sourced.commands).toBe(Course.commands)
      expect(Aggregate.replay(sourced, id, [LessonAdded.make({ title: "a" })])).toEqual({ draft: true, lessons: ["a"] })
    }
    expect(Course.persistence).toEqual(Aggregate.stateStored)
    expect(Course.pipe(Aggregate.withPersistence(Aggregate.stateStored)).persistence).toEqual({ _tag: "StateStored" })
  })
})

describe("CommandHandler.withPrecondition types", () => {
  it("adds the union of the check's errors to the command's, and checks the other aggregate's id and state", () => {
    const other = CourseId.make("c-2")
    const guarded = CommandHandler.execute(Course, id, "addLesson", { title: "a" }).pipe(
      CommandHandler.withPrecondition(Course, other, (course) => {
        expectTypeOf(course).toEqualTypeOf<State>()
        return course.draft
          ? Either.left(new NotDraft())
          : course.lessons.length === 0
          ? Either.left(new NoLessons())
          : Either.void
      })
    )
    const plain = CommandHandler.execute(Course, id, "addLesson", { title: "a" })
    expectTypeOf(guarded).toEqualTypeOf<
      Effect.Effect<
        CommandHandler.Result<typeof Course>,
        Effect.Effect.Error<typeof plain> | NotDraft | NoLessons,
        CommandHandler.CommandHandler
      >
    >()
    const dataFirst = CommandHandler.withPrecondition(
      plain,
      Course,
      other,
      () => Either.left(new TitleTaken({ title: "" }))
    )
    expectTypeOf(dataFirst).toEqualTypeOf<
      Effect.Effect<
        CommandHandler.Result<typeof Course>,
        Effect.Effect.Error<typeof plain> | TitleTaken,
        CommandHandler.CommandHandler
      >
    >()
    // never run: the checks are the compiler's
    const typeOnly = () => {
      // @ts-expect-error the id must be the other aggregate's id type
      plain.pipe(CommandHandler.withPrecondition(Course, "c-3", () => Either.void))
      // @ts-expect-error the check returns an Either
      plain.pipe(CommandHandler.withPrecondition(Course, other, () => true))
      const wrongState = (s: { readonly seats: number }) => Either.right(s.seats)
      // @ts-expect-error the check receives the other aggregate's state
      plain.pipe(CommandHandler.withPrecondition(Course, other, wrongState))
    }
    expect(typeof typeOnly).toBe("function")
  })
})
