/**
 * Arbitraries that hit the edges: the schema's own arbitrary (`Arbitrary.make`), with every
 * number, string and array in it drawn from its boundary values a quarter of the time — 0, 1 and
 * -1, the minimum and maximum of a refinement (and one step inside an excluded one), the empty
 * string and array, the shortest and longest string a length refinement allows. Only values the
 * schema accepts are drawn; a part of the schema with an `arbitrary` annotation of its own keeps it.
 */
import { Arbitrary, type FastCheck, Option, Schema, SchemaAST } from "effect"

/** One draw in `BOUNDARY + REST` comes from the boundary values. */
const BOUNDARY = 1
const REST = 3

export const arbitrary = <A, I, R>(schema: Schema.Schema<A, I, R>): FastCheck.Arbitrary<A> =>
  Arbitrary.make(Schema.make<A>(bias(SchemaAST.typeAST(schema.ast))))

/** The AST with boundary-biased arbitraries on its numbers, strings and arrays. */
const bias = (ast: SchemaAST.AST): SchemaAST.AST => {
  if (hasOwnArbitrary(ast)) return ast
  switch (ast._tag) {
    case "NumberKeyword":
    case "StringKeyword":
    case "BigIntKeyword":
      return withBoundaries(ast, candidates(ast))
    case "Refinement": {
      const base = baseOf(ast)
      if (base._tag === "NumberKeyword" || base._tag === "StringKeyword" || base._tag === "BigIntKeyword") {
        return withBoundaries(ast, candidates(ast))
      }
      const rebuilt = new SchemaAST.Refinement(bias(ast.from), ast.filter, ast.annotations)
      return isArray(base) ? withBoundaries(rebuilt, [[]]) : rebuilt
    }
    case "TupleType": {
      const rebuilt = new SchemaAST.TupleType(
        ast.elements.map((element) =>
          new SchemaAST.OptionalType(bias(element.type), element.isOptional, element.annotations)
        ),
        ast.rest.map((rest) => new SchemaAST.Type(bias(rest.type), rest.annotations)),
        ast.isReadonly,
        ast.annotations
      )
      return isArray(ast) ? withBoundaries(rebuilt, [[]]) : rebuilt
    }
    case "TypeLiteral":
      return new SchemaAST.TypeLiteral(
        ast.propertySignatures.map((property) =>
          new SchemaAST.PropertySignature(
            property.name,
            bias(property.type),
            property.isOptional,
            property.isReadonly,
            property.annotations
          )
        ),
        ast.indexSignatures.map((index) =>
          new SchemaAST.IndexSignature(index.parameter, bias(index.type), index.isReadonly)
        ),
        ast.annotations
      )
    case "Union":
      return SchemaAST.Union.make(ast.types.map(bias), ast.annotations)
    default:
      return ast
  }
}

const hasOwnArbitrary = (ast: SchemaAST.AST): boolean =>
  Option.isSome(SchemaAST.getAnnotation(ast, SchemaAST.ArbitraryAnnotationId)) ||
  (ast._tag === "Refinement" && hasOwnArbitrary(ast.from))

const baseOf = (ast: SchemaAST.AST): SchemaAST.AST => (ast._tag === "Refinement" ? baseOf(ast.from) : ast)

const isArray = (ast: SchemaAST.AST): boolean =>
  ast._tag === "TupleType" && ast.elements.length === 0 && ast.rest.length > 0

/** The bounds that the refinements of a chain declare (their JSON Schema annotations). */
const bounds = (ast: SchemaAST.AST): ReadonlyArray<number> => {
  const found: Array<number> = []
  for (let node = ast; node._tag === "Refinement"; node = node.from) {
    const json = Option.getOrUndefined(SchemaAST.getJSONSchemaAnnotation(node)) as Record<string, unknown> | undefined
    for (
      const key of [
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "minLength",
        "maxLength"
      ]
    ) {
      const value = json?.[key]
      if (typeof value === "number" && Number.isFinite(value)) found.push(value)
    }
  }
  return found
}

/** Values worth trying for a number, string or bigint (the schema filters out those it refuses). */
const candidates = (ast: SchemaAST.AST): ReadonlyArray<unknown> => {
  switch (baseOf(ast)._tag) {
    case "NumberKeyword":
      return [0, 1, -1, ...bounds(ast).flatMap((bound) => [bound, bound + 1, bound - 1])]
    case "StringKeyword":
      return ["", ...bounds(ast).filter((length) => length <= 10_000).map((length) => "a".repeat(length))]
    case "BigIntKeyword":
      return [BigInt(0), BigInt(1), BigInt(-1)]
    default:
      return []
  }
}

/** The node's own arbitrary, drawing from the valid candidates a quarter of the time. */
const withBoundaries = (ast: SchemaAST.AST, values: ReadonlyArray<unknown>): SchemaAST.AST => {
  const accepts = Schema.is(Schema.make(ast))
  const valid: Array<unknown> = []
  for (const value of values) {
    if (accepts(value) && !valid.some((seen) => sameValue(seen, value))) valid.push(value)
  }
  if (valid.length === 0) return ast
  const rest = Arbitrary.makeLazy(Schema.make(ast))
  const annotation: Arbitrary.ArbitraryAnnotation<unknown> = () => (fc) =>
    fc.oneof(
      // a fresh empty array per draw: a decision that mutated one would not leak into the next
      { weight: BOUNDARY, arbitrary: fc.constantFrom(...valid).map((v) => (Array.isArray(v) ? [] : v)) },
      { weight: REST, arbitrary: rest(fc) }
    )
  return SchemaAST.annotations(ast, { [SchemaAST.ArbitraryAnnotationId]: annotation })
}

const sameValue = (a: unknown, b: unknown): boolean =>
  Object.is(a, b) || (Array.isArray(a) && Array.isArray(b) && a.length === 0 && b.length === 0)
