/**
 * How the port's subjects and partition keys map to JetStream subjects:
 *
 *   <prefix>.<partition>.<subject>.<key token>
 *
 * `partition` is FNV-1a(key) mod the stream's partition count (the hash of nats-server's
 * `partition()` mapping function), so one durable per partition with `filter_subject`
 * `<prefix>.<p>.>` and `max_ack_pending: 1` keeps each key in order. The key token is the key
 * itself when it is made of letters, digits, `-` and `_`, otherwise `~` and its UTF-8 bytes in
 * base64url.
 */
import { Either, Encoding } from "effect"
import { fnv1a, matches } from "../../../ports/internal/subjects.js"

const PLAIN_KEY = /^[A-Za-z0-9_-]+$/

export const keyToken = (key: string): string =>
  PLAIN_KEY.test(key) ? key : `~${Encoding.encodeBase64Url(new TextEncoder().encode(key))}`

export const keyFromToken = (token: string): string => {
  if (!token.startsWith("~")) return token
  const bytes = Encoding.decodeBase64Url(token.slice(1))
  return Either.isRight(bytes) ? new TextDecoder().decode(bytes.right) : token
}

export const partitionOf = (key: string, partitions: number): number => fnv1a(key) % partitions

export const wireSubject = (prefix: string, partitions: number, subject: string, key: string): string =>
  `${prefix}.${partitionOf(key, partitions)}.${subject}.${keyToken(key)}`

/** The port's subject and key of a JetStream subject, if it has the layout above. */
export const parseWireSubject = (
  prefix: string,
  wire: string
): { readonly subject: string; readonly partitionKey: string } | undefined => {
  if (!wire.startsWith(`${prefix}.`)) return undefined
  const tokens = wire.slice(prefix.length + 1).split(".")
  if (tokens.length < 3) return undefined
  return { subject: tokens.slice(1, -1).join("."), partitionKey: keyFromToken(tokens[tokens.length - 1]!) }
}

/**
 * The `filter_subject` of a durable for one partition (`"*"`: all of them). One pattern maps to a
 * filter of its own; several cannot be expressed by one filter on nats-server 2.9 (`filter_subjects`
 * needs 2.10), so the filter takes the whole partition and `selects` checks each message.
 */
export const filterSubject = (prefix: string, partition: string, patterns: ReadonlyArray<string>): string => {
  if (patterns.length !== 1) return `${prefix}.${partition}.>`
  const pattern = patterns[0]!
  return pattern.endsWith(">") ? `${prefix}.${partition}.${pattern}` : `${prefix}.${partition}.${pattern}.*`
}

export const selects = (patterns: ReadonlyArray<string>, subject: string): boolean =>
  patterns.some((pattern) => matches(pattern, subject))
