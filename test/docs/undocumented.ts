/**
 * A module with an export that has no doc comment, to show that the docs build refuses it.
 *
 * @module
 */

/** Documented. */
export const documented = 1

export const undocumented = 2
