/**
 * Subjects and patterns of the message broker port, checked the same way by every adapter.
 */
import { Duration } from "effect"
import type { ConsumerOptions, OutgoingMessage } from "../MessageBroker.js"

/** A token: printable, no whitespace, no `.`, `*` or `>`. */
const TOKEN = /^[^\s.*>]+$/
const NAME = /^[A-Za-z0-9_-]{1,64}$/

export const invalidSubject = (subject: string): string | undefined => {
  if (subject.length === 0) return "the subject is empty"
  for (const token of subject.split(".")) {
    if (!TOKEN.test(token)) {
      return `subject "${subject}": tokens must be non-empty, without whitespace, "*" or ">"`
    }
  }
  return undefined
}

export const invalidPattern = (pattern: string): string | undefined => {
  if (pattern.length === 0) return "the subject pattern is empty"
  const tokens = pattern.split(".")
  for (const [i, token] of tokens.entries()) {
    if (token === "*") continue
    if (token === ">" && i === tokens.length - 1) continue
    if (!TOKEN.test(token)) {
      return `subject pattern "${pattern}": tokens must be non-empty words, "*", or a final ">"`
    }
  }
  return undefined
}

export const matches = (pattern: string, subject: string): boolean => {
  const p = pattern.split(".")
  const s = subject.split(".")
  for (let i = 0; i < p.length; i++) {
    if (p[i] === ">") return s.length > i
    if (i >= s.length) return false
    if (p[i] !== "*" && p[i] !== s[i]) return false
  }
  return p.length === s.length
}

/** What is wrong with a batch before anything is sent, if anything. */
export const invalidMessage = (message: OutgoingMessage): string | undefined => {
  if (message.id.length === 0) return "a message id is empty"
  if (message.partitionKey.length === 0) return `message ${message.id}: the partition key is empty`
  const subject = invalidSubject(message.subject)
  if (subject !== undefined) return `message ${message.id}: ${subject}`
  for (const name of Object.keys(message.headers)) {
    if (name.toLowerCase().startsWith("nats-")) return `message ${message.id}: header ${name} is reserved`
  }
  return undefined
}

/** What is wrong with consumer options, if anything. */
export const invalidConsumer = (options: ConsumerOptions): string | undefined => {
  if (!NAME.test(options.name)) {
    return `consumer name "${options.name}": 1 to 64 letters, digits, "-" or "_"`
  }
  if (options.subjects.length === 0) return `consumer ${options.name}: no subject patterns`
  for (const pattern of options.subjects) {
    const invalid = invalidPattern(pattern)
    if (invalid !== undefined) return `consumer ${options.name}: ${invalid}`
  }
  if (options.maxInFlight !== undefined && !(Number.isSafeInteger(options.maxInFlight) && options.maxInFlight > 0)) {
    return `consumer ${options.name}: maxInFlight must be a positive integer`
  }
  if (options.ackWait !== undefined && Duration.toMillis(options.ackWait) < 1) {
    return `consumer ${options.name}: ackWait must be at least 1 millisecond`
  }
  return undefined
}

/** FNV-1a, 32 bits, of the UTF-8 bytes (the hash nats-server's `partition()` mapping uses). */
export const fnv1a = (s: string): number => {
  let h = 0x811c9dc5
  for (const byte of new TextEncoder().encode(s)) h = Math.imul(h ^ byte, 0x01000193) >>> 0
  return h
}

/** Groups messages by partition key, keeping their order within each key and the keys' first appearance. */
export const byKey = <M extends { readonly partitionKey: string }>(
  messages: ReadonlyArray<M>
): Array<Array<readonly [number, M]>> => {
  const groups = new Map<string, Array<readonly [number, M]>>()
  for (const [i, message] of messages.entries()) {
    const group = groups.get(message.partitionKey)
    if (group === undefined) groups.set(message.partitionKey, [[i, message]])
    else group.push([i, message])
  }
  return [...groups.values()]
}
