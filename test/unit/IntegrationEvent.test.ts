import { describe, expect, it } from "@effect/vitest"
import { Either, Schema } from "effect"
import { CloudEvent, IntegrationEvent } from "effect-ddd"

const CoursePublishedV1 = IntegrationEvent.make({
  type: "catalog.course-published",
  version: 1,
  schema: Schema.Struct({ courseId: Schema.String, title: Schema.String })
})
const CoursePublishedV2 = IntegrationEvent.make({
  type: "catalog.course-published",
  version: 2,
  schema: Schema.Struct({ courseId: Schema.String, title: Schema.String, lessons: Schema.Int })
})
const StudentEnrolledV1 = IntegrationEvent.make({
  type: "catalog.student-enrolled",
  version: 1,
  schema: Schema.Struct({ courseId: Schema.String, studentId: Schema.String, at: Schema.Date })
})
const CoursePublished = IntegrationEvent.accepting(CoursePublishedV2, {
  from: CoursePublishedV1,
  upcast: (v1) => ({ ...v1, lessons: 0 })
})

const attributes = { id: "m-1", source: "/catalog", subject: "c-1", partitionkey: "c-1" }
const encode = <C extends IntegrationEvent.Any>(contract: C, data: IntegrationEvent.Data<C>) =>
  Either.getOrThrow(IntegrationEvent.encode(contract, data, attributes))

describe("IntegrationEvent", () => {
  it("a contract is a type, a version and a schema; its CloudEvent type carries the version", () => {
    expect([CoursePublishedV1.type, CoursePublishedV1.version, CoursePublishedV1.eventType]).toEqual([
      "catalog.course-published",
      1,
      "catalog.course-published.v1"
    ])
    expect(IntegrationEvent.isIntegrationEvent(CoursePublishedV1)).toBe(true)
    expect(IntegrationEvent.isIntegrationEvent(CoursePublished)).toBe(false)
    expect(() => IntegrationEvent.make({ type: "Catalog.Course Published", version: 1, schema: Schema.String }))
      .toThrow(/lower-case/)
    expect(() => IntegrationEvent.make({ type: "catalog.x", version: 0, schema: Schema.String })).toThrow(/positive/)
  })

  it("encodes data with the contract's schema into a CloudEvent", () => {
    const at = new Date("2024-05-01T10:00:00.000Z")
    const event = Either.getOrThrow(
      IntegrationEvent.encode(StudentEnrolledV1, { courseId: "c-1", studentId: "s-1", at }, {
        ...attributes,
        time: at,
        correlationid: "corr",
        causationid: "evt-1",
        traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
      })
    )
    expect(event).toEqual({
      specversion: "1.0",
      id: "m-1",
      source: "/catalog",
      type: "catalog.student-enrolled.v1",
      subject: "c-1",
      time: "2024-05-01T10:00:00.000Z",
      datacontenttype: "application/json",
      partitionkey: "c-1",
      correlationid: "corr",
      causationid: "evt-1",
      traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
      data: { courseId: "c-1", studentId: "s-1", at: "2024-05-01T10:00:00.000Z" }
    })
    const invalid = IntegrationEvent.encode(CoursePublishedV2, { courseId: "c", title: "t", lessons: 1.5 }, attributes)
    expect(Either.isLeft(invalid) && [invalid.left._tag, invalid.left.eventType]).toEqual([
      "IntegrationEventEncodeError",
      "catalog.course-published.v2"
    ])
  })

  it("decodes the accepted versions, upcasting older ones, discriminated by type", () => {
    const accepted = [CoursePublished, StudentEnrolledV1] as const
    const v1 = IntegrationEvent.decode(accepted, encode(CoursePublishedV1, { courseId: "c-1", title: "Effect" }))
    const v2 = IntegrationEvent.decode(
      accepted,
      encode(CoursePublishedV2, { courseId: "c-1", title: "Effect", lessons: 3 })
    )
    expect(Either.getOrThrow(v1)).toMatchObject({
      type: "catalog.course-published",
      version: 1,
      data: { courseId: "c-1", title: "Effect", lessons: 0 }
    })
    expect(Either.getOrThrow(v2)).toMatchObject({ version: 2, data: { lessons: 3 } })
    const enrolled = Either.getOrThrow(IntegrationEvent.decode(
      accepted,
      encode(StudentEnrolledV1, { courseId: "c-1", studentId: "s-1", at: new Date(0) })
    ))
    // typed by the discriminant: `at` is a Date again
    if (enrolled.type !== "catalog.student-enrolled") throw new Error("discriminated by type")
    expect(enrolled.data.at).toEqual(new Date(0))
  })

  it("refuses, with a typed reason, what a consumer does not accept", () => {
    const reason = (accepted: ReadonlyArray<IntegrationEvent.Accepting<string, any>>, event: CloudEvent.CloudEvent) =>
      Either.match(IntegrationEvent.decode(accepted, event), {
        onLeft: (e) => [e._tag, e.reason, e.id],
        onRight: () => ["decoded"]
      })
    const v1 = encode(CoursePublishedV1, { courseId: "c-1", title: "Effect" })
    expect(reason([CoursePublishedV2], v1)).toEqual(["IntegrationEventDecodeError", "UnsupportedVersion", "m-1"])
    expect(reason([StudentEnrolledV1], v1)).toEqual(["IntegrationEventDecodeError", "UnknownType", "m-1"])
    expect(reason([CoursePublished], { ...v1, data: { courseId: 1 } })).toEqual([
      "IntegrationEventDecodeError",
      "InvalidData",
      "m-1"
    ])
    expect(reason([CoursePublished], { ...v1, type: "catalog.course-published" })).toEqual([
      "IntegrationEventDecodeError",
      "UnknownType",
      "m-1"
    ])
    const throwing = IntegrationEvent.accepting(CoursePublishedV2, {
      from: CoursePublishedV1,
      upcast: () => {
        throw new Error("no")
      }
    })
    expect(reason([throwing], v1)).toEqual(["IntegrationEventDecodeError", "UpcastFailed", "m-1"])
  })

  it("accepting refuses another type and a version listed twice", () => {
    const Other = IntegrationEvent.make({ type: "catalog.other", version: 1, schema: Schema.Struct({}) })
    // @ts-expect-error another type
    expect(() => IntegrationEvent.accepting(CoursePublishedV2, { from: Other, upcast: () => ({}) })).toThrow(
      /not a version of catalog.course-published/
    )
    expect(() =>
      IntegrationEvent.accepting(
        CoursePublishedV2,
        { from: CoursePublishedV1, upcast: (v1) => ({ ...v1, lessons: 0 }) },
        { from: CoursePublishedV1, upcast: (v1) => ({ ...v1, lessons: 1 }) }
      )
    ).toThrow(/listed twice/)
    // @ts-expect-error the upcaster must return the current version's data
    IntegrationEvent.accepting(CoursePublishedV2, { from: CoursePublishedV1, upcast: (v1) => v1 })
  })

  it("derives the message id from the domain event id and the contract: stable, distinct per contract", () => {
    const id = IntegrationEvent.messageId(CoursePublishedV1, "019a0000-0000-7000-8000-000000000001")
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    expect(IntegrationEvent.messageId(CoursePublishedV1, "019a0000-0000-7000-8000-000000000001")).toBe(id)
    expect(IntegrationEvent.messageId(CoursePublishedV2, "019a0000-0000-7000-8000-000000000001")).not.toBe(id)
    expect(IntegrationEvent.messageId(CoursePublishedV1, "019a0000-0000-7000-8000-000000000002")).not.toBe(id)
    // a fixed value: a changed derivation would make events republished after an upgrade look new
    expect(id).toBe("25c64d00-94d9-5d51-9cab-ed34d158eb75")
  })
})

describe("CloudEvent", () => {
  const event = encode(CoursePublishedV2, { courseId: "c-1", title: "Café", lessons: 2 })
  const full: CloudEvent.CloudEvent = {
    ...event,
    time: "2024-05-01T10:00:00.000Z",
    traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    tracestate: "vendor=abc",
    extensions: { tenant: "acme" }
  }

  it("binary content mode: ce-* headers, content-type, the W3C trace headers, the JSON payload", () => {
    const binary = Either.getOrThrow(CloudEvent.toBinary(full))
    expect(binary.headers).toEqual({
      "ce-specversion": "1.0",
      "ce-id": "m-1",
      "ce-source": "/catalog",
      "ce-type": "catalog.course-published.v2",
      "ce-subject": "c-1",
      "ce-time": "2024-05-01T10:00:00.000Z",
      "ce-partitionkey": "c-1",
      "ce-traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
      "ce-tracestate": "vendor=abc",
      "ce-tenant": "acme",
      "content-type": "application/json",
      traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
      tracestate: "vendor=abc"
    })
    expect(JSON.parse(new TextDecoder().decode(binary.payload))).toEqual({ courseId: "c-1", title: "Café", lessons: 2 })
    expect(Either.getOrThrow(CloudEvent.fromBinary(binary))).toEqual(full)
    // header names are case-insensitive on the way in
    const upper = Object.fromEntries(Object.entries(binary.headers).map(([k, v]) => [k.toUpperCase(), v]))
    expect(Either.getOrThrow(CloudEvent.fromBinary({ ...binary, headers: upper }))).toEqual(full)
  })

  it("structured JSON: attributes and extensions at the top level, data as JSON", () => {
    const json = Either.getOrThrow(CloudEvent.toJson(full))
    expect(JSON.parse(json)).toMatchObject({
      tenant: "acme",
      data: { lessons: 2 },
      type: "catalog.course-published.v2"
    })
    expect(Either.getOrThrow(CloudEvent.fromJson(json))).toEqual(full)
    const bytes: CloudEvent.CloudEvent = {
      ...event,
      datacontenttype: "application/octet-stream",
      data: new Uint8Array([1, 2])
    }
    const back = Either.getOrThrow(CloudEvent.fromJson(Either.getOrThrow(CloudEvent.toJson(bytes))))
    expect(back.data).toEqual(new Uint8Array([1, 2]))
  })

  it("refuses what is not a valid CloudEvent with a typed error", () => {
    const detail = (result: Either.Either<unknown, CloudEvent.CloudEventError>) =>
      Either.match(result, { onLeft: (e) => `${e._tag}: ${e.detail}`, onRight: () => "valid" })
    const binary = Either.getOrThrow(CloudEvent.toBinary(event))
    const { "ce-specversion": _, ...noVersion } = binary.headers
    expect(detail(CloudEvent.fromBinary({ ...binary, headers: noVersion }))).toMatch(
      /^CloudEventError: .*ce-specversion/
    )
    const { "ce-id": __, ...noId } = binary.headers
    expect(detail(CloudEvent.fromBinary({ ...binary, headers: noId }))).toMatch(/^CloudEventError: .*id/)
    expect(detail(CloudEvent.fromBinary({ ...binary, payload: new TextEncoder().encode("{not json") }))).toMatch(
      /not valid UTF-8 JSON/
    )
    expect(detail(CloudEvent.fromJson(JSON.stringify({ ...event, time: "yesterday" })))).toMatch(/time/)
    expect(detail(CloudEvent.toBinary({ ...event, extensions: { "Bad-Name": "x" } }))).toMatch(/extensions/)
  })
})
