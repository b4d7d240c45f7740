import { createHash } from "node:crypto"

const canonical = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(canonical)
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {}
    for (const key of Object.keys(value).sort()) out[key] = canonical((value as Record<string, unknown>)[key])
    return out
  }
  return value
}

/** JSON with object keys sorted, so equal values give equal text. */
export const canonicalJson = (value: unknown): string => JSON.stringify(canonical(value)) ?? "null"

/** A SHA-256 (hex) of a value's canonical JSON. */
export const fingerprint = (value: unknown): string => createHash("sha256").update(canonicalJson(value)).digest("hex")
