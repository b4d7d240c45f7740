/**
 * The README and the pages of docs/ say what is so: the commands they show are the package's
 * scripts, the files they name and link exist, the embedded examples are the compiled files.
 */
import { describe, expect, it } from "@effect/vitest"
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { dirname, join, resolve } from "node:path"

const root = resolve(import.meta.dirname, "..", "..")
const read = (path: string) => readFileSync(join(root, path), "utf8")
const readme = read("README.md")
const pages = readdirSync(join(root, "docs")).filter((name) => name.endsWith(".md")).map((name) => `docs/${name}`)
const documents = ["README.md", ...pages]
const scripts: Record<string, string> = JSON.parse(read("package.json")).scripts

/** Every code block introduced by a line naming `examples/....ts` and a colon. */
/** The example files a text embeds (a backticked path, a colon, then a ts block), with their copies. */
const embeddedIn = (text: string) =>
  [...text.matchAll(/`(examples\/[\w/.-]+\.ts)`[^\n]*:\n\n```ts\n([\s\S]*?)```\n/g)].map((m) => ({
    file: m[1]!,
    code: m[2]!
  }))
const embedded = embeddedIn(readme)

/** The npm scripts a text runs: `npm test`, `npm start`, `npm run <name>` (in code or prose). */
const npmScripts = (text: string) => [
  ...[...text.matchAll(/\bnpm (test|start)\b/g)].map((m) => m[1]!),
  ...[...text.matchAll(/\bnpm run ([\w:-]+)/g)].map((m) => m[1]!)
]

/** The repository files a text names in backticks (`test/...`, `src/...`, ...), without anchors. */
const namedFiles = (text: string) =>
  [...text.matchAll(/`((?:src|test|examples|bench|docs|\.ci)\/[\w./-]*)`/g)].map((m) => m[1]!)
    // generated, not in the repository
    .filter((path) => !path.startsWith("docs/api"))

/** The targets of a text's relative markdown links, resolved from its own folder. */
const linked = (document: string) =>
  [...read(document).matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!)
    .filter((target) => !/^[a-z]+:/.test(target) && !target.startsWith("#"))
    .map((target) => join(dirname(document), target.split("#")[0]!))

/** The anchors of a text's headings, as GitHub makes them (lower case, punctuation dropped, spaces to hyphens). */
const anchors = (text: string) =>
  [...text.matchAll(/^#{1,6} (.+)$/gm)].map((m) =>
    m[1]!.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, "").replace(/\s/g, "-")
  )

/** A text's relative links that name an anchor, with the file they point into (the text's own when none). */
const anchored = (document: string) =>
  [...read(document).matchAll(/\]\(([^)\s]*#[^)\s]+)\)/g)].map((m) => m[1]!)
    .filter((target) => !/^[a-z]+:/.test(target))
    .map((target) => {
      const [path, anchor] = target.split("#") as [string, string]
      return { anchor, file: path === "" ? document : join(dirname(document), path) }
    })

/** The README's `## ` headings, in order. */
const sections = [...readme.matchAll(/^## (.+)$/gm)].map((m) => m[1]!)

describe("README", () => {
  it("reads as a guide: short, set-up and quick start first, then the topics, the tests and the documentation", () => {
    expect(readme.split("\n").length).toBeLessThan(450)
    const order = ["Set-up", "Using the package", "Quick start", "Concepts", "Tests", "Reliability", "Documentation"]
    const at = order.map((title) => sections.indexOf(title))
    expect(at.filter((i) => i < 0), `missing: ${order.filter((_, i) => at[i]! < 0).join(", ")}`).toEqual([])
    expect(at).toEqual([...at].sort((a, b) => a - b))
    expect(sections.at(-1)).toBe("Documentation")
  })

  it("embeds the compiled example files verbatim", () => {
    expect(embedded.map((e) => e.file)).toEqual(
      expect.arrayContaining(["examples/quickstart.ts", "examples/sql-layers.ts"])
    )
    for (const { code, file } of embedded) expect(code, file).toBe(read(file))
  })

  it("sets up with npm install, and tests with npm test, which lints, typechecks and runs every lane", () => {
    const setUp = readme.slice(readme.indexOf("## Set-up"), readme.indexOf("\n## ", readme.indexOf("## Set-up") + 1))
    expect(setUp).toContain("npm install && npm start")
    expect(npmScripts(setUp)).toEqual(["start", "test"])
    expect(scripts["test"]).toBe("npm run lint && npm run typecheck && vitest run")
  })

  it("shows only commands that are scripts of the package", () => {
    for (const document of documents) {
      const shown = npmScripts(read(document))
      if (document === "README.md") expect(shown.length, document).toBeGreaterThan(0)
      expect(shown.filter((name) => scripts[name] === undefined), document).toEqual([])
    }
    // the Tests section shows each lane's command
    const tests = readme.slice(readme.indexOf("## Tests"), readme.indexOf("## Reliability"))
    expect(npmScripts(tests)).toEqual(
      expect.arrayContaining(["test", "test:unit", "test:integration", "test:chaos:short"])
    )
  })

  it("names only files that exist, and links only to files that exist", () => {
    for (const document of documents) {
      const named = namedFiles(read(document))
      if (document === "README.md") expect(named.length, document).toBeGreaterThan(0)
      expect(named.filter((path) => !existsSync(join(root, path))), document).toEqual([])
      expect(linked(document).filter((path) => !existsSync(join(root, path))), document).toEqual([])
    }
  })

  it("links to anchors that are headings of the page they point into", () => {
    const links = documents.flatMap(anchored)
    expect(links.map((link) => link.file)).toEqual(expect.arrayContaining(["README.md", "docs/performance.md"]))
    for (const { anchor, file } of links) {
      expect(anchors(read(file)), `${file}#${anchor}`).toContain(anchor)
    }
  })

  it("links to every page of docs/", () => {
    expect(pages).toContain("docs/testing.md")
    expect(pages.filter((page) => !linked("README.md").includes(page))).toEqual([])
  })
})

describe("docs/", () => {
  it("each page embeds compiled example files verbatim", () => {
    expect(pages.flatMap((page) => embeddedIn(read(page)).map((e) => e.file))).toEqual(
      expect.arrayContaining([
        "examples/delivery.ts",
        "examples/cross-aggregate-rule.ts",
        "examples/aggregate-laws.test.ts"
      ])
    )
    for (const page of pages) {
      for (const { code, file } of embeddedIn(read(page))) expect(code, `${page}: ${file}`).toBe(read(file))
    }
  })
})
