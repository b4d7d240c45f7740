/**
 * The body of every error answer: `{ "error": "<TagName>", "message": "<what is wrong>" }`, then
 * the error's own fields. `ErrorBody.schema(SomeError, status)` is that JSON form of a tagged
 * error class with its HTTP status: what `HttpApiEndpoint.addError` encodes, the OpenAPI document
 * describes and `HttpApiClient` decodes back into the class.
 */
import { HttpApiSchema, HttpServerResponse } from "@effect/platform"
import { Effect, Schema } from "effect"

/** The JSON form of an error: its tag as `error`, its message, then its other fields. */
export type Encoded<Tag extends string, Fields extends Schema.Struct.Fields> =
  & { readonly error: Tag; readonly message: string }
  & Schema.Struct.Encoded<Omit<Fields, "_tag" | "message">>

/** A tagged error's JSON form, answered with `status`. */
export const schema = <
  Self extends { readonly _tag: Tag; readonly message: string },
  Tag extends string,
  Fields extends Schema.Struct.Fields
>(
  errorClass: Schema.TaggedErrorClass<Self, Tag, Fields>,
  status: number,
  description?: string
): Schema.Schema<Self, Encoded<Tag, Fields>> => {
  const { _tag: _, message: messageField, ...fields } = errorClass.fields as Schema.Struct.Fields
  const names = Object.keys(fields)
  const body = Schema.Struct({ error: Schema.Literal(errorClass._tag), message: Schema.String, ...fields })
  const instance = Schema.declare((u): u is Self => u instanceof errorClass, { identifier: `${errorClass._tag}Error` })
  return Schema.transform(body, instance, {
    strict: false,
    decode: ({ error: _, message, ...rest }) =>
      // a message that is a getter is derived from the fields
      new errorClass((messageField === undefined ? rest : { ...rest, message }) as never),
    encode: (error) => {
      const out: Record<string, unknown> = { error: error._tag, message: error.message }
      for (const name of names) if (name in error) out[name] = (error as unknown as Record<string, unknown>)[name]
      return out as typeof body.Type
    }
  }).annotations({
    identifier: errorClass._tag,
    ...(description === undefined ? {} : { description }),
    ...HttpApiSchema.annotations({ status })
  }) as unknown as Schema.Schema<Self, Encoded<Tag, Fields>>
}

/**
 * An error answered outside the API's own encoding (by a middleware), in the same JSON form, with
 * extra headers if need be.
 */
export const respond = <A, I>(
  errorSchema: Schema.Schema<A, I>,
  error: A,
  headers: Record<string, string> = {}
): Effect.Effect<HttpServerResponse.HttpServerResponse> =>
  HttpServerResponse.schemaJson(errorSchema)(error, {
    status: HttpApiSchema.getStatusErrorAST(errorSchema.ast),
    headers
  }).pipe(Effect.orDie)
