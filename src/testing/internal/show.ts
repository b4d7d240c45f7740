/**
 * A value as a reader of a test report wants it: like JSON, but with what JSON loses (NaN,
 * Infinity, -0, undefined, bigints, dates) written as it is.
 */
export const show = (value: unknown, depth = 0): string => {
  if (depth > 8) return "…"
  switch (typeof value) {
    case "number":
      return Object.is(value, -0) ? "-0" : String(value)
    case "bigint":
      return `${value}n`
    case "string":
      return JSON.stringify(value)
    case "undefined":
      return "undefined"
    case "symbol":
      return value.toString()
    case "function":
      return "[function]"
    case "boolean":
      return String(value)
  }
  if (value === null) return "null"
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? "Invalid Date" : value.toISOString()
  if (Array.isArray(value)) return `[${value.map((item) => show(item, depth + 1)).join(", ")}]`
  const entries = Object.entries(value as object)
  if (entries.length === 0) return "{}"
  return `{ ${
    entries.map(([key, item]) =>
      `${/^[A-Za-z_$][\w$]*$/.test(key) ? key : JSON.stringify(key)}: ${show(item, depth + 1)}`
    ).join(", ")
  } }`
}
