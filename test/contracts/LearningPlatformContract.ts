/**
 * The learning platform's contract (docs/learning-platform.md), over real HTTP against its four
 * services, each its own process with its own database, talking through a real nats-server. The
 * platform is started once per file (`start`); the checks run in order against it, and the last
 * ones stop it (SIGTERM), start it again on the same data, and kill its process group.
 */
import { Validator } from "@seriousme/openapi-schema-validator"
import { randomBytes } from "node:crypto"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { isFree, type Platform, type ServiceName, services, startPlatform } from "../support/platform.js"
import { type Answer, eventually, request } from "../support/server.js"

export interface Options {
  /** The platform's environment: `DATA_DIR`, and `NATS_URL` or `NATS_PORT`, and the databases. Kept for the restart. */
  readonly environment: () => Promise<Record<string, string>>
  /** Called once the platform has stopped for good. */
  readonly dispose?: () => Promise<void>
}

const adminToken = `token-${randomBytes(8).toString("hex")}`
const unique = () => randomBytes(4).toString("hex")

export const learningPlatformContract = (name: string, options: Options) =>
  describe(name, () => {
    let env: Record<string, string>
    let platform: Platform
    const call = (
      service: ServiceName,
      method: string,
      path: string,
      body?: unknown,
      headers?: Record<string, string>
    ) => request({ url: platform.urls[service] }, method, path, body, headers)
    const expectOk = (answer: Answer, status = 200) => {
      expect(answer.status, JSON.stringify(answer.body)).toBe(status)
      return answer.body
    }
    const expectError = (answer: Answer, status: number, error: string) => {
      expect(answer.status, JSON.stringify(answer.body)).toBe(status)
      expect(answer.contentType).toMatch(/^application\/json/)
      expect(answer.body).toMatchObject({ error, message: expect.any(String) })
      return answer.body
    }
    /** The fields a 400 names. */
    const fieldsOf = (answer: Answer) => {
      expectError(answer, 400, "InvalidRequest")
      return (answer.body.issues as Array<{ field: string }>).map((issue) => issue.field)
    }

    const createCourse = async (title: string, lessons = 1) => {
      const course = expectOk(await call("catalog", "POST", "/courses", { title }), 201)
      for (let i = 0; i < lessons; i++) {
        expectOk(await call("catalog", "POST", `/courses/${course.courseId}/lessons`, { title: `lesson ${i}` }), 201)
      }
      return course.courseId as string
    }
    const enroll = async (courseId: string, studentId: string) =>
      expectOk(await call("catalog", "POST", `/courses/${courseId}/enrollments`, { studentId }), 201)
    const publish = async (courseId: string) => expectOk(await call("catalog", "POST", `/courses/${courseId}/publish`))
    const emailsOf = async (studentId: string) =>
      expectOk(await call("notifications", "GET", `/students/${encodeURIComponent(studentId)}/emails`)).emails as Array<
        { courseId: string; title: string; kind: string }
      >
    const setPreference = async (userId: string, courseAnnouncements: boolean) =>
      expectOk(await call("accounts", "PUT", `/users/${userId}/email-preferences`, { courseAnnouncements }))
    /** Wait until notifications knows a user's preference. */
    const knownPreference = (userId: string, courseAnnouncements: boolean) =>
      eventually(async () => {
        const answer = await call("notifications", "GET", `/users/${userId}/email-preferences`)
        expect(answer.status).toBe(200)
        expect(answer.body).toEqual({ userId, courseAnnouncements })
      })
    const searchFor = async (q: string) =>
      expectOk(await call("discovery", "GET", `/search?q=${encodeURIComponent(q)}`)).courses as Array<
        { courseId: string; title: string }
      >
    const recommendationsFor = async (studentId: string) =>
      expectOk(await call("discovery", "GET", `/students/${studentId}/recommendations`)).courses as Array<
        { courseId: string; title: string }
      >

    beforeAll(async () => {
      env = { ...(await options.environment()), ADMIN_TOKEN: adminToken }
      platform = await startPlatform(env)
    })

    afterAll(async () => {
      platform?.signalGroup("SIGKILL")
      await platform?.exited
      await options.dispose?.()
    })

    // --- every service ---------------------------------------------------------------------------------
    it("every service answers /health with its publications and consumers, /metrics and /openapi.json", async () => {
      const expected: Record<ServiceName, { subscriptions: Array<string>; consumers: Array<string>; path: string }> = {
        catalog: { subscriptions: ["catalog-publish-courses"], consumers: [], path: "/courses/{courseId}/publish" },
        accounts: {
          subscriptions: ["accounts-publish-email-preferences"],
          consumers: [],
          path: "/users/{userId}/email-preferences"
        },
        notifications: {
          subscriptions: [],
          consumers: [
            "notifications-email-preferences",
            "notifications-course-announcements",
            "notifications-enrollment-emails"
          ],
          path: "/students/{studentId}/emails"
        },
        discovery: {
          subscriptions: [],
          consumers: ["discovery-search", "discovery-recommendations"],
          path: "/students/{studentId}/recommendations"
        }
      }
      for (const service of services) {
        const health = await eventually(async () => {
          const answer = await call(service, "GET", "/health")
          expect(answer.status, `${service}: ${JSON.stringify(answer.body)}`).toBe(200)
          return answer.body
        })
        expect(["healthy", "degraded"]).toContain(health.status)
        expect(health.subscriptions.map((s: { subscription: string }) => s.subscription)).toEqual(
          expected[service].subscriptions
        )
        expect((health.consumers ?? []).map((s: { subscription: string }) => s.subscription)).toEqual(
          expected[service].consumers
        )
        const metrics = await call(service, "GET", "/metrics")
        expect(metrics.status).toBe(200)
        expect(metrics.contentType).toMatch(/^text\/plain/)
        expect(metrics.body).toContain("# TYPE")
        const openapi = expectOk(await call(service, "GET", "/openapi.json"))
        expect(openapi.openapi).toMatch(/^3\./)
        expect(await new Validator().validate(structuredClone(openapi)), service).toEqual({ valid: true })
        expect(Object.keys(openapi.paths)).toEqual(expect.arrayContaining([expected[service].path, "/health"]))
        expectError(await call(service, "GET", "/no-such-path"), 404, "RouteNotFound")
      }
    })

    it("every service has the admin endpoints, open only with the admin token", async () => {
      for (const service of services) {
        expectError(await call(service, "GET", "/admin/subscriptions"), 401, "Unauthorized")
        expectError(
          await call(service, "GET", "/admin/subscriptions", undefined, { authorization: "Bearer wrong" }),
          401,
          "Unauthorized"
        )
        const authorized = { authorization: `Bearer ${adminToken}` }
        expectOk(await call(service, "GET", "/admin/subscriptions", undefined, authorized))
        expect(expectOk(await call(service, "GET", "/admin/dead-letters", undefined, authorized))).toEqual({
          deadLetters: []
        })
      }
      const catalog = expectOk(
        await call("catalog", "GET", "/admin/subscriptions", undefined, { authorization: `Bearer ${adminToken}` })
      )
      expect(catalog.subscriptions.map((s: { name: string }) => s.name)).toEqual(["catalog-publish-courses"])
    })

    // --- catalog -----------------------------------------------------------------------------------------
    it("catalog: courses, lessons, enrollments and publication, with their errors", async () => {
      const created = expectOk(await call("catalog", "POST", "/courses", { title: "Typed errors" }), 201)
      expect(created).toEqual({
        courseId: expect.any(String),
        title: "Typed errors",
        status: "draft",
        lessons: 0,
        students: 0
      })
      const id = created.courseId
      expect(expectOk(await call("catalog", "GET", `/courses/${id}`))).toEqual(created)
      expectError(await call("catalog", "POST", `/courses/${id}/publish`), 422, "CourseHasNoLessons")
      expect(expectOk(await call("catalog", "POST", `/courses/${id}/lessons`, { title: "Either" }), 201)).toMatchObject(
        { lessons: 1, status: "draft" }
      )
      // students may enroll in a draft: a pre-registration
      expect(await enroll(id, "s-1")).toMatchObject({ students: 1, status: "draft" })
      expectError(
        await call("catalog", "POST", `/courses/${id}/enrollments`, { studentId: "s-1" }),
        409,
        "StudentAlreadyEnrolled"
      )
      expect(await publish(id)).toEqual({ ...created, status: "published", lessons: 1, students: 1 })
      expectError(await call("catalog", "POST", `/courses/${id}/publish`), 409, "CourseAlreadyPublished")
      // and in a published course
      expect(await enroll(id, "s-2")).toMatchObject({ students: 2, status: "published" })
      expect(expectOk(await call("catalog", "GET", `/courses/${id}`))).toMatchObject({
        status: "published",
        lessons: 1,
        students: 2
      })

      const unknown = `unknown-${unique()}`
      for (
        const [method, path, body] of [
          ["GET", `/courses/${unknown}`, undefined],
          ["POST", `/courses/${unknown}/lessons`, { title: "x" }],
          ["POST", `/courses/${unknown}/enrollments`, { studentId: "s-1" }],
          ["POST", `/courses/${unknown}/publish`, undefined]
        ] as const
      ) {
        expect(expectError(await call("catalog", method, path, body), 404, "CourseNotFound")).toMatchObject({
          courseId: unknown
        })
      }
    })

    it("catalog: an invalid body is a 400 naming its fields, and changes nothing", async () => {
      expect(fieldsOf(await call("catalog", "POST", "/courses", {}))).toEqual(["title"])
      expect(fieldsOf(await call("catalog", "POST", "/courses", { title: "" }))).toEqual(["title"])
      expect(fieldsOf(await call("catalog", "POST", "/courses", { title: "x".repeat(201) }))).toEqual(["title"])
      expect(fieldsOf(await call("catalog", "POST", "/courses", { title: "ok", extra: 1 }))).toEqual(["extra"])
      expect(expectOk(await call("catalog", "POST", "/courses", { title: "x".repeat(200) }), 201).title).toHaveLength(
        200
      )
      const id = await createCourse("Validation", 0)
      expect(fieldsOf(await call("catalog", "POST", `/courses/${id}/lessons`, { title: 7 }))).toEqual(["title"])
      expect(fieldsOf(await call("catalog", "POST", `/courses/${id}/enrollments`, {}))).toEqual(["studentId"])
      expect(fieldsOf(await call("catalog", "POST", `/courses/${id}/enrollments`, { studentId: "s".repeat(101) })))
        .toEqual(["studentId"])
      expectError(await call("catalog", "POST", "/courses", "{not json"), 400, "MalformedBody")
      expect(expectOk(await call("catalog", "GET", `/courses/${id}`))).toMatchObject({ lessons: 0, students: 0 })
      expect((await enroll(id, "s".repeat(100))).students).toBe(1)
    })

    // --- accounts and the copy notifications keeps ------------------------------------------------------
    it("accounts: email preferences are set and read; notifications' copy becomes known", async () => {
      const user = `u-${unique()}`
      expectError(await call("accounts", "GET", `/users/${user}/email-preferences`), 404, "PreferencesNotFound")
      expectError(await call("notifications", "GET", `/users/${user}/email-preferences`), 404, "PreferencesNotKnown")
      expect(fieldsOf(await call("accounts", "PUT", `/users/${user}/email-preferences`, {}))).toEqual([
        "courseAnnouncements"
      ])
      expect(
        fieldsOf(await call("accounts", "PUT", `/users/${user}/email-preferences`, { courseAnnouncements: "no" }))
      ).toEqual(["courseAnnouncements"])
      expect(await setPreference(user, false)).toEqual({ userId: user, courseAnnouncements: false })
      expect(expectOk(await call("accounts", "GET", `/users/${user}/email-preferences`))).toEqual({
        userId: user,
        courseAnnouncements: false
      })
      await knownPreference(user, false)
      await setPreference(user, true)
      await knownPreference(user, true)
    })

    // --- notifications ----------------------------------------------------------------------------------
    let announced: { courseId: string; title: string } | undefined
    /** Students who were sent emails, checked again after the restart. */
    const notified: Array<string> = []
    it("notifications: publishing emails every student enrolled by then once, honouring what it knows of their preferences", async () => {
      const [alice, bob, carol] = ["alice", "bob", "carol"].map((n) => `${n}-${unique()}`) as [string, string, string]
      await setPreference(bob, false)
      await setPreference(carol, true)
      await knownPreference(bob, false)
      await knownPreference(carol, true)
      const title = `Announcements ${unique()}`
      const courseId = await createCourse(title)
      for (const student of [alice, bob, carol]) await enroll(courseId, student)
      await publish(courseId)
      // one message: the emails of the three students are decided in one transaction
      await eventually(async () => expect(await emailsOf(alice)).toHaveLength(1))
      const email = { courseId, title, kind: "course-published" }
      expect(await emailsOf(alice)).toEqual([email])
      expect(await emailsOf(carol)).toEqual([email])
      expect(await emailsOf(bob)).toEqual([])
      announced = { courseId, title }
      notified.push(alice, carol)
    })

    it("notifications: enrolling in a published course emails the student once, whatever the preference; in a draft, not", async () => {
      const { courseId, title } = announced!
      const [dave, erin] = ["dave", "erin"].map((n) => `${n}-${unique()}`) as [string, string]
      await setPreference(erin, false)
      await knownPreference(erin, false)
      await enroll(courseId, dave)
      await enroll(courseId, erin)
      const email = { courseId, title, kind: "enrolled" }
      await eventually(async () => expect(await emailsOf(erin)).toEqual([email]))
      expect(await emailsOf(dave)).toEqual([email])
      // a pre-registration in a draft: no email, until the course is published
      const draft = await createCourse(`Draft ${unique()}`)
      await enroll(draft, dave)
      const later = await createCourse(`Later ${unique()}`)
      const gina = `gina-${unique()}`
      await enroll(later, erin)
      await enroll(later, gina)
      await publish(later)
      await enroll(later, dave)
      // the announcement was decided for gina and erin at once: erin's is not sent (preference false)
      await eventually(async () => expect((await emailsOf(gina)).map((e) => e.kind)).toEqual(["course-published"]))
      await eventually(async () => expect((await emailsOf(dave)).map((e) => e.courseId)).toContain(later))
      expect(await emailsOf(dave)).toEqual([email, expect.objectContaining({ courseId: later, kind: "enrolled" })])
      expect(await emailsOf(erin)).toEqual([email])
      notified.push(dave, erin)
      expect(expectOk(await call("notifications", "GET", `/students/nobody-${unique()}/emails`)).emails).toEqual([])
    })

    // --- discovery --------------------------------------------------------------------------------------
    it("discovery: search finds published courses by a word of their title, whatever the case; drafts never", async () => {
      const word = `zebra${unique()}`
      const published = await createCourse(`Patterns of the ${word.toUpperCase()} kind`)
      const draft = await createCourse(`A ${word} draft`)
      await enroll(draft, "s-1")
      await publish(published)
      await eventually(async () => expect((await searchFor(word)).map((c) => c.courseId)).toContain(published))
      expect(await searchFor(word)).toEqual([{
        courseId: published,
        title: `Patterns of the ${word.toUpperCase()} kind`
      }])
      expect(await searchFor(`the ${word.slice(0, 6).toUpperCase()}`)).toEqual([
        { courseId: published, title: `Patterns of the ${word.toUpperCase()} kind` }
      ])
      // a wildcard of SQL is only a character
      expect(await searchFor("%")).toEqual([])
      expect(await searchFor(`${word}-nothing`)).toEqual([])
      expect(fieldsOf(await call("discovery", "GET", "/search"))).toEqual(["q"])
    })

    it("discovery: recommendations are the published courses a student is not enrolled in, newest first, at most 10", async () => {
      const student = `reader-${unique()}`
      const observer = `observer-${unique()}`
      const courses: Array<string> = []
      for (let i = 0; i < 13; i++) {
        const id = await createCourse(`Recommended ${i}`)
        // enrolled before the publication (a pre-registration) in one, after it in another
        if (i === 4) await enroll(id, student)
        await publish(id)
        if (i === 8) await enroll(id, student)
        // each is recommended before the next is published: newest first is the order of publication
        await eventually(async () => expect((await recommendationsFor(observer)).map((c) => c.courseId)).toContain(id))
        courses.push(id)
      }
      const expected = courses.filter((_, i) => i !== 4 && i !== 8).reverse().slice(0, 10)
      await eventually(async () => expect((await recommendationsFor(student)).map((c) => c.courseId)).toEqual(expected))
      expect((await recommendationsFor(student))[0]).toEqual({ courseId: courses[12], title: "Recommended 12" })
      expect((await recommendationsFor(observer)).map((c) => c.courseId)).toEqual(courses.slice(3).reverse())
    })

    // --- stopping and starting again ---------------------------------------------------------------------
    it("SIGTERM stops every service gracefully, their ports free; started again on the same data it continues, sending nothing twice", async () => {
      const { courseId, title } = announced!
      const sent = Object.fromEntries(
        await Promise.all(notified.map(async (student) => [student, await emailsOf(student)] as const))
      )
      const ports = { ...platform.ports }
      platform.signal("SIGTERM")
      expect(await platform.exited).toBe(0)
      for (const service of services) expect(await isFree(ports[service]), service).toBe(true)

      platform = await startPlatform(env)
      expect(expectOk(await call("catalog", "GET", `/courses/${courseId}`))).toMatchObject({
        title,
        status: "published",
        students: 5
      })
      const frank = `frank-${unique()}`
      await enroll(courseId, frank)
      await eventually(async () => expect(await emailsOf(frank)).toEqual([{ courseId, title, kind: "enrolled" }]))
      // every consumer has settled every message (redeliveries included): none was applied twice
      await eventually(async () => {
        const health = expectOk(await call("notifications", "GET", "/health"))
        expect(health.consumers.map((c: { lag: number }) => c.lag)).toEqual([0, 0, 0])
      })
      for (const student of notified) expect(await emailsOf(student), student).toEqual(sent[student])
      await knownPreference(notified[1]!, true)
    })

    it("a signal to the process group reaches every service: after a SIGKILL their ports are free", async () => {
      const ports = { ...platform.ports }
      platform.signalGroup("SIGKILL")
      await platform.exited
      for (const service of services) {
        await eventually(async () => expect(await isFree(ports[service]), service).toBe(true))
      }
    })
  })
