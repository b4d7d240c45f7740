/** Projections' versions over the in-memory database. */
import { Effect, HashMap, Option } from "effect"
import type { Service, Status, Version } from "../../../ports/ProjectionVersions.js"
import { type Database, key, type Tables } from "./tables.js"

const byNameAndVersion = (a: Version, b: Version) => a.name < b.name ? -1 : a.name > b.name ? 1 : a.version - b.version

export const make = (db: Database): Service => {
  /** Change one version when `when` holds; whether it did. */
  const change = (
    name: string,
    version: number,
    when: (v: Version) => boolean,
    f: (v: Version, tables: Tables) => Tables
  ) =>
    db.modify((tables): readonly [boolean, Tables] => {
      const found = HashMap.get(tables.projections, key(name, version))
      return Option.isSome(found) && when(found.value) ? [true, f(found.value, tables)] : [false, tables]
    })
  const put = (tables: Tables, v: Version): Tables => ({
    ...tables,
    projections: HashMap.set(tables.projections, key(v.name, v.version), v)
  })
  const withStatus = (v: Version, status: Status, now: number): Version => ({ ...v, status, updatedAt: now })
  return {
    list: (name) =>
      Effect.map(db.get, (tables) =>
        Array.from(HashMap.values(tables.projections))
          .filter((v) => name === undefined || v.name === name)
          .sort(byNameAndVersion)),
    begin: ({ name, status, subscription, version }, now) =>
      db.modify((tables): readonly [boolean, Tables] => {
        const found = HashMap.get(tables.projections, key(name, version))
        if (Option.isSome(found) && found.value.status !== "refused") return [false, tables]
        return [
          true,
          put(tables, {
            name,
            version,
            subscription,
            status,
            detail: null,
            rebuildRequested: false,
            createdAt: Option.match(found, { onNone: () => now, onSome: (v) => v.createdAt }),
            updatedAt: now
          })
        ]
      }),
    refuse: ({ name, subscription, version }, detail, now) =>
      db.modify((tables) => {
        const found = HashMap.get(tables.projections, key(name, version))
        return [
          undefined,
          put(tables, {
            name,
            version,
            subscription,
            status: "refused",
            detail,
            rebuildRequested: false,
            createdAt: Option.match(found, { onNone: () => now, onSome: (v) => v.createdAt }),
            updatedAt: now
          })
        ] as const
      }),
    promote: (name, version, now) =>
      change(name, version, (v) => v.status === "building", (v, tables) => {
        const serving = Array.from(HashMap.values(tables.projections)).filter((o) =>
          o.name === name && o.status === "serving"
        )
        return put(
          serving.reduce((t, o) => put(t, withStatus(o, "retiring", now)), tables),
          withStatus(v, "serving", now)
        )
      }),
    retire: (name, version, now) =>
      change(name, version, (v) => v.status === "retiring", (v, tables) => put(tables, withStatus(v, "retired", now))),
    requestRebuild: (name, version, now) =>
      change(
        name,
        version,
        (v) => v.status === "building" || v.status === "serving",
        (v, tables) => put(tables, { ...v, rebuildRequested: true, updatedAt: now })
      ),
    startRebuild: (name, version, now) =>
      change(
        name,
        version,
        (v) => v.rebuildRequested,
        (v, tables) => put(tables, { ...v, rebuildRequested: false, detail: null, updatedAt: now })
      )
  }
}
