/**
 * The learning platform under faults (docs/learning-platform.md): its four services as separate
 * processes on SQLite files, with a real nats-server, take a seeded load of courses, lessons,
 * enrollments and publications while a service is killed with SIGKILL and started again on its
 * data, the NATS server is restarted, and NATS is down for 10 seconds while commands keep coming.
 * Then, once quiet, the ledger: every email the rules call for was sent exactly once and no other,
 * the search index holds every published course and no draft, and no service has a dead letter.
 *
 * Students' preferences are set before the load and known to notifications before it starts, so
 * the emails each course must produce follow from the answers alone. Each course's requests go
 * one after another (so "enrolled by the time it was published" is what the answers say), courses
 * in parallel. A request refused because its service was down is sent again; a request cut by a
 * kill is sent again too, and a second answer of `StudentAlreadyEnrolled` or
 * `CourseAlreadyPublished` means the first had committed (a lesson added twice, or a course created
 * twice, changes no rule: the spare course stays an empty draft).
 */
import { FastCheck as fc } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { freePort } from "../support/freePort.js"
import { type NatsServer, startNatsServer } from "../support/nats.js"
import { type ServiceName, services } from "../support/platform.js"
import { type Answer, request } from "../support/server.js"
import { full, seed, timeout } from "./size.js"

const root = fileURLToPath(new URL("../..", import.meta.url))
const adminToken = `token-${randomBytes(8).toString("hex")}`
const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis))

const size = full ? { courses: 150, students: 30, concurrency: 6 } : { courses: 30, students: 12, concurrency: 4 }

// --- the services, each a process of its own ------------------------------------------------------

interface Service {
  readonly name: ServiceName
  readonly url: string
  readonly start: () => Promise<void>
  /** SIGKILL: a crash; resolves once it is gone. */
  readonly kill: () => Promise<void>
  readonly stop: () => Promise<void>
  readonly output: () => string
}

const startService = async (
  name: ServiceName,
  env: Readonly<Record<string, string>>
): Promise<Service> => {
  const port = await freePort()
  let child: ChildProcess | undefined
  let output = ""
  const start = () =>
    new Promise<void>((resolve, reject) => {
      const p = spawn(process.execPath, ["--import", "tsx", `examples/learning-platform/${name}/main.ts`], {
        cwd: root,
        env: { ...process.env, ...env, PORT: String(port), ADMIN_TOKEN: adminToken },
        stdio: ["ignore", "pipe", "pipe"]
      })
      child = p
      const onData = (data: string) => {
        output += data
        if (output.includes(`Listening on http://`) && output.lastIndexOf("Listening on") > started) {
          p.stdout!.off("data", onData)
          resolve()
        }
      }
      const started = output.length
      p.stdout!.setEncoding("utf8").on("data", onData)
      p.stderr!.setEncoding("utf8").on("data", (data: string) => (output += data))
      p.once(
        "exit",
        (code, signal) => reject(new Error(`${name} exited (${code ?? signal}) while starting:\n${output}`))
      )
    })
  const signal = (sig: NodeJS.Signals) => () =>
    new Promise<void>((resolve) => {
      const p = child
      if (p === undefined || p.exitCode !== null || p.signalCode !== null) return resolve()
      p.once("exit", () => resolve())
      p.kill(sig)
    })
  process.once("exit", () => child?.kill("SIGKILL"))
  await start()
  return {
    name,
    url: `http://127.0.0.1:${port}`,
    start,
    kill: signal("SIGKILL"),
    stop: signal("SIGTERM"),
    output: () => output
  }
}

// --- the workload -----------------------------------------------------------------------------------

interface CourseScript {
  readonly lessons: number
  /** Indexes of students enrolled before the publication, and after it. */
  readonly before: ReadonlyArray<number>
  readonly after: ReadonlyArray<number>
  readonly publish: boolean
}

const script = (students: number): fc.Arbitrary<CourseScript> =>
  fc.record({
    lessons: fc.integer({ min: 1, max: 2 }),
    enrolled: fc.uniqueArray(fc.nat(students - 1), { maxLength: 6 }),
    split: fc.nat(6),
    publish: fc.integer({ min: 0, max: 6 }).map((n) => n !== 0)
  }).map(({ enrolled, lessons, publish, split }) => ({
    lessons,
    publish,
    before: publish ? enrolled.slice(0, split) : enrolled,
    after: publish ? enrolled.slice(split) : []
  }))

/** A student's preference: unset, on or off. */
const preferences = (students: number) =>
  fc.sample(fc.constantFrom<"unset" | "on" | "off">("unset", "on", "off"), { seed, numRuns: students })

type Fault =
  | { readonly kind: "kill"; readonly service: ServiceName }
  | { readonly kind: "restart-nats" }
  | { readonly kind: "nats-down"; readonly seconds: number }

/** The faults, in order, each when that share of the courses is done. */
const faults: ReadonlyArray<{ readonly at: number; readonly fault: Fault }> = [
  { at: 0.15, fault: { kind: "kill", service: "notifications" } },
  { at: 0.3, fault: { kind: "kill", service: "catalog" } },
  { at: 0.45, fault: { kind: "restart-nats" } },
  { at: 0.55, fault: { kind: "nats-down", seconds: 10 } },
  { at: 0.75, fault: { kind: "kill", service: "discovery" } },
  ...(full
    ? [
      { at: 0.8, fault: { kind: "kill", service: "notifications" } } as const,
      { at: 0.85, fault: { kind: "kill", service: "accounts" } } as const,
      { at: 0.9, fault: { kind: "kill", service: "catalog" } } as const
    ]
    : [])
]

interface Email {
  readonly courseId: string
  readonly kind: string
}

describe("the learning platform under faults", { timeout }, () => {
  const dataDir = mkdtempSync(join(tmpdir(), "effect-ddd-platform-chaos-"))
  let nats: NatsServer
  const running = {} as Record<ServiceName, Service>

  beforeAll(async () => {
    nats = await startNatsServer()
    for (const name of services) running[name] = await startService(name, { DATA_DIR: dataDir, NATS_URL: nats.url })
  }, 180_000)

  afterAll(async () => {
    for (const service of Object.values(running)) await service.stop()
    await nats?.dispose()
    rmSync(dataDir, { recursive: true, force: true })
  })

  /** A request, sent again while its service is down or was killed before answering. */
  const call = async (service: ServiceName, method: string, path: string, body?: unknown): Promise<Answer> => {
    const deadline = Date.now() + 120_000
    while (true) {
      try {
        return await request({ url: running[service].url }, method, path, body)
      } catch (error) {
        if (Date.now() > deadline) throw new Error(`${method} ${path} on ${service}: ${String(error)}`)
        await sleep(50)
      }
    }
  }
  const expectStatus = (answer: Answer, ...statuses: ReadonlyArray<number>) => {
    expect(statuses, `${answer.status} ${JSON.stringify(answer.body)}`).toContain(answer.status)
    return answer
  }

  it(`every email exactly once, the index complete, nothing dead-lettered (seed ${seed})`, async () => {
    const started = Date.now()
    const tag = `s${seed}`
    const students = Array.from({ length: size.students }, (_, i) => `student-${tag}-${i}`)
    const prefs = preferences(size.students)
    // preferences first, known to notifications before any course is published
    for (const [i, pref] of prefs.entries()) {
      if (pref === "unset") continue
      expectStatus(
        await call("accounts", "PUT", `/users/${students[i]}/email-preferences`, {
          courseAnnouncements: pref === "on"
        }),
        200
      )
    }
    for (const [i, pref] of prefs.entries()) {
      if (pref === "unset") continue
      while ((await call("notifications", "GET", `/users/${students[i]}/email-preferences`)).status !== 200) {
        await sleep(50)
      }
    }

    const scripts = fc.sample(script(size.students), { seed: seed + 1, numRuns: size.courses })
    const expected = new Map<string, Array<Email>>(students.map((s) => [s, []]))
    const courses: Array<{ readonly id: string; readonly title: string; readonly published: boolean }> = []
    let done = 0
    let next = 0
    /** How many faults have begun: a course past the next fault's share waits for it to begin. */
    let begun = 0
    const gate = async (index: number) => {
      while (begun < faults.length && index >= faults[begun]!.at * scripts.length) await sleep(20)
    }

    const runCourse = async (index: number) => {
      const s = scripts[index]!
      const title = `Course ${index} ${tag}x${index}y` // its own word: no other title contains it
      const created = expectStatus(await call("catalog", "POST", "/courses", { title }), 201)
      const id = created.body.courseId as string
      for (let l = 0; l < s.lessons; l++) {
        expectStatus(await call("catalog", "POST", `/courses/${id}/lessons`, { title: `lesson ${l}` }), 201)
      }
      const enroll = async (student: number) =>
        expectStatus(
          await call("catalog", "POST", `/courses/${id}/enrollments`, { studentId: students[student] }),
          201,
          409
        )
      for (const student of s.before) await enroll(student)
      if (s.publish) {
        expectStatus(await call("catalog", "POST", `/courses/${id}/publish`), 200, 409)
        for (const student of s.before) {
          if (prefs[student] !== "off") {
            expected.get(students[student]!)!.push({ courseId: id, kind: "course-published" })
          }
        }
        for (const student of s.after) {
          await enroll(student)
          expected.get(students[student]!)!.push({ courseId: id, kind: "enrolled" })
        }
      }
      courses.push({ id, title, published: s.publish })
      done++
    }

    const worker = async () => {
      while (next < scripts.length) {
        const index = next++
        await gate(index)
        await runCourse(index)
      }
    }
    const injector = async () => {
      for (const { at, fault } of faults) {
        while (done < at * scripts.length - size.concurrency) await sleep(20)
        const began = Date.now()
        const when = done
        begun++ // the courses behind it go ahead while it happens
        if (fault.kind === "kill") {
          await running[fault.service].kill()
          await running[fault.service].start()
        } else if (fault.kind === "restart-nats") {
          await nats.stop()
          await nats.start()
        } else {
          await nats.stop()
          await sleep(fault.seconds * 1000) // the outage's length: commands keep coming meanwhile
          await nats.start()
        }
        console.log(`fault ${JSON.stringify(fault)} after ${when}/${scripts.length} courses (${Date.now() - began} ms)`)
      }
    }
    await Promise.all([...Array.from({ length: size.concurrency }, worker), injector()])

    // quiet: every expected email arrived (the wait goes on while emails keep arriving)
    const emailsOf = async (student: string) =>
      (expectStatus(await call("notifications", "GET", `/students/${student}/emails`), 200).body.emails as Array<
        Email & { title: string }
      >).map(({ courseId, kind }) => ({ courseId, kind }))
    const key = (e: Email) => `${e.kind}:${e.courseId}`
    const sorted = (emails: ReadonlyArray<Email>) => emails.map(key).sort()
    const missing = async () => {
      let n = 0
      for (const student of students) {
        const got = new Set((await emailsOf(student)).map(key))
        n += expected.get(student)!.filter((e) => !got.has(key(e))).length
      }
      return n
    }
    let last = Infinity
    let progressAt = Date.now()
    while (true) {
      const n = await missing()
      if (n === 0) break
      if (n < last) progressAt = Date.now()
      last = n
      if (Date.now() - progressAt > 60_000) break // no progress for a minute: stuck
      await sleep(200)
    }
    // the ledger: exactly the expected emails, each once
    for (const student of students) {
      expect(sorted(await emailsOf(student)), student).toEqual(sorted(expected.get(student)!))
    }
    // the index: each published course found by its own word, no draft
    const findable = async (course: (typeof courses)[number]) => {
      const found = expectStatus(
        await call("discovery", "GET", `/search?q=${encodeURIComponent(course.title.split(" ")[2]!)}`),
        200
      )
        .body.courses as Array<{ courseId: string }>
      return found.map((c) => c.courseId)
    }
    for (const course of courses.filter((c) => c.published)) {
      let ids = await findable(course)
      const since = Date.now()
      while (ids.length === 0 && Date.now() - since < 60_000) {
        await sleep(200)
        ids = await findable(course)
      }
      expect(ids, course.title).toEqual([course.id])
    }
    for (const course of courses.filter((c) => !c.published)) expect(await findable(course), course.title).toEqual([])
    // nothing dead-lettered anywhere
    for (const service of services) {
      const answer = await request({ url: running[service].url }, "GET", "/admin/dead-letters", undefined, {
        authorization: `Bearer ${adminToken}`
      })
      expect(answer.body, service).toEqual({ deadLetters: [] })
    }
    const emails = [...expected.values()].reduce((n, e) => n + e.length, 0)
    console.log(
      `platform chaos: ${courses.length} courses, ${emails} emails, ${faults.length} faults, ${
        Math.round((Date.now() - started) / 1000)
      } s`
    )
  })
})
