/**
 * Publications: domain events published from the outbox to a message broker as integration
 * events. A publication is an async subscription run by the relay, like any other: partitioned
 * by aggregate, in order per aggregate, retried under a `Schedule`, dead-lettered, redriven, and
 * checkpointed only after the broker acknowledged the message.
 *
 * ```ts
 * const publishCourses = Publication.make({
 *   name: "publish-course-published",
 *   events: [Subscription.on(Course, "CoursePublished")],
 *   to: CoursePublishedV1,
 *   map: (event, envelope) => ({ courseId: envelope.aggregateId, title: event.title })
 * })
 * Relay.layer({ subscriptions: [publishCourses] }) // needs a MessageBroker
 * ```
 *
 * Each message carries the CloudEvent of the contract (binary content mode): its id is
 * `IntegrationEvent.messageId(contract, eventId)`, the same on every republish, so a republish
 * after a crash between the broker's acknowledgement and the checkpoint's commit is dropped by
 * the broker's duplicate window or the consumers' inboxes. The subject is the contract's
 * `<type>.v<version>`, the partition key the aggregate id (one aggregate's events keep their order
 * across the broker), and the extensions carry the correlation id, the causing event's id and the
 * W3C trace context.
 *
 * While the broker is unreachable (`MessageBrokerError` `Unavailable` or `Timeout`) a publication
 * retries for as long as it takes, backing off to one attempt every 5 seconds: commands are still
 * accepted (they only write the outbox), the publication's lag grows (the health check reports
 * it), and everything drains once the broker is back. Other failures follow `retry`, then the
 * event is dead-lettered.
 *
 * @since 0.2.0
 * @module
 */
import type { Schedule } from "effect"
import type * as CloudEvent from "../core/CloudEvent.js"
import type * as DomainEvent from "../core/DomainEvent.js"
import type * as IntegrationEvent from "../core/IntegrationEvent.js"
import type * as Subscription from "../core/Subscription.js"
import type { MessageBroker, MessageBrokerError } from "../ports/MessageBroker.js"
import * as internal from "./internal/integration/publication.js"

/**
 * What a publication's delivery can fail with: the broker, or data that does not match the
 * contract (`map` returned something the contract's schema cannot encode).
 *
 * @since 0.2.0
 * @category errors
 */
export type PublishError =
  | MessageBrokerError
  | IntegrationEvent.IntegrationEventEncodeError
  | CloudEvent.CloudEventError

/**
 * A publication: a subscription (kind `publication`) whose handler publishes to the `MessageBroker`.
 *
 * @since 0.2.0
 * @category models
 */
export type Publication<Event> = Subscription.Subscription<Event, PublishError, MessageBroker>

/**
 * @since 0.2.0
 * @category models
 */
export interface Options<S extends ReadonlyArray<Subscription.Source<any>>, C extends IntegrationEvent.Any> {
  /** The subscription's name (checkpoints, dead letters, health): `publish-course-published`. */
  readonly name: string
  /** The domain events it reads: `[Subscription.on(Course, "CoursePublished")]`. */
  readonly events: S
  /** The contract it publishes. */
  readonly to: C
  /**
   * The contract's data for a domain event, or `undefined` to publish nothing for it (the event is
   * skipped and the checkpoint moves on). Pure: no effects.
   */
  readonly map: (
    event: Subscription.EventOf<S[number]>,
    envelope: DomainEvent.Envelope<Subscription.EventOf<S[number]>>
  ) => IntegrationEvent.Data<C> | undefined
  /** The CloudEvents `source`: the producing service, as a URI reference (default `/<first aggregate's name>`). */
  readonly source?: string
  /**
   * Retries of failures other than an unreachable broker, before the event is dead-lettered
   * (default `Subscription.defaultRetry`).
   */
  readonly retry?: Schedule.Schedule<unknown, unknown>
  /** Aggregates are spread over this many partitions (default 4). */
  readonly partitions?: number
}

/**
 * Define a publication; run it with `Relay.layer({ subscriptions: [...] })` and a `MessageBroker`.
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = <const S extends ReadonlyArray<Subscription.Source<any>>, C extends IntegrationEvent.Any>(
  options: Options<S, C>
): Publication<Subscription.EventOf<S[number]>> =>
  internal.make<S, C>({
    ...options,
    route: (event, envelope) => {
      const data = options.map(event, envelope)
      return data === undefined ? undefined : { contract: options.to, data }
    },
    source: options.source ?? `/${options.events[0]?.aggregate.name ?? options.name}`
  })

/**
 * One of several contracts with its data: what `RoutedOptions.map` returns. Checked by the type
 * checker: the data must be the contract's.
 *
 * @since 0.2.0
 * @category models
 */
export type Routed<C extends IntegrationEvent.Any> = C extends any
  ? { readonly contract: C; readonly data: IntegrationEvent.Data<C> }
  : never

/**
 * @since 0.2.0
 * @category models
 */
export interface RoutedOptions<
  S extends ReadonlyArray<Subscription.Source<any>>,
  Cs extends ReadonlyArray<IntegrationEvent.Any>
> extends Omit<Options<S, Cs[number]>, "to" | "map"> {
  /** The contracts it publishes. */
  readonly to: Cs
  /**
   * The contract and its data for a domain event (`Publication.route(contract, data)`), or
   * `undefined` to publish nothing for it. Pure: no effects.
   */
  readonly map: (
    event: Subscription.EventOf<S[number]>,
    envelope: DomainEvent.Envelope<Subscription.EventOf<S[number]>>
  ) => Routed<Cs[number]> | undefined
}

/**
 * A publication to several contracts, for domain events whose order matters across them: a
 * course's enrollments and its publication, say. One publication delivers an aggregate's events
 * one after the other, whatever contract each maps to, so they reach the broker, and a consumer
 * accepting all of them, in the aggregate's order; two publications would each keep their own
 * order, not each other's.
 *
 * ```ts
 * const publishCourses = Publication.makeRouted({
 *   name: "publish-courses",
 *   events: [Subscription.on(Course, "StudentEnrolled", "CoursePublished")],
 *   to: [StudentEnrolledV1, CoursePublishedV1],
 *   map: (event, envelope) =>
 *     event._tag === "StudentEnrolled"
 *       ? Publication.route(StudentEnrolledV1, { courseId: envelope.aggregateId, studentId: event.studentId })
 *       : Publication.route(CoursePublishedV1, { courseId: envelope.aggregateId, title: event.title })
 * })
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const makeRouted = <
  const S extends ReadonlyArray<Subscription.Source<any>>,
  const Cs extends ReadonlyArray<IntegrationEvent.Any>
>(
  options: RoutedOptions<S, Cs>
): Publication<Subscription.EventOf<S[number]>> =>
  internal.make<S, Cs[number]>({
    ...options,
    route: options.map,
    source: options.source ?? `/${options.events[0]?.aggregate.name ?? options.name}`
  })

/**
 * A contract and its data, for `makeRouted`'s `map`.
 *
 * @since 0.2.0
 * @category constructors
 */
export const route = <C extends IntegrationEvent.Any>(contract: C, data: IntegrationEvent.Data<C>): Routed<C> =>
  ({ contract, data }) as Routed<C>

/**
 * Whether a subscription is a publication.
 *
 * @since 0.2.0
 * @category guards
 */
export const isPublication = (subscription: Subscription.Any): boolean => subscription.kind === "publication"
