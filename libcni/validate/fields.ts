/**
 * Go's encoding/json key matching: an object key selects a struct field by exact name, else
 * case-insensitively, the last matching key winning; unknown keys are ignored; `null` leaves a
 * field at its zero value.
 */
import { KEYS } from "./generated/keys.ts";
import type { KeyNode } from "./generated/types.ts";
import { findKey, fold, isObject } from "./keys.ts";

export { findKey, getField, isObject } from "./keys.ts";

export type SchemaName = keyof typeof KEYS;

export interface CanonicalizeOptions {
  /** Match keys case-insensitively (Go structs). false for Go maps (conflist top level). */
  readonly fold: boolean;
  /** Keep keys the schema does not name, under their own name (configs pass them through). */
  readonly keepUnknown: boolean;
}

function walk(value: unknown, node: KeyNode, opts: CanonicalizeOptions): unknown {
  if (node.i && Array.isArray(value)) return value.map((v: unknown) => walk(v, node.i ?? {}, opts));
  const props = node.p;
  if (!props || !isObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [name, child] of Object.entries(props)) {
    const k = opts.fold ? findKey(value, name) : Object.hasOwn(value, name) ? name : undefined;
    if (k === undefined) continue;
    const v = value[k];
    if (v !== null && v !== undefined) out[name] = walk(v, child, opts);
  }
  if (opts.keepUnknown) {
    const known = opts.fold ? new Set(Object.keys(props).map(fold)) : new Set(Object.keys(props));
    for (const [k, v] of Object.entries(value)) {
      if (!known.has(opts.fold ? fold(k) : k)) out[k] = v;
    }
  }
  return out;
}

/**
 * Rename the keys a schema knows to their canonical spelling (recursively), drop `null` values
 * of known keys, and keep or drop the others. Non-objects are returned unchanged.
 */
export function canonicalize(schema: SchemaName, value: unknown, opts: CanonicalizeOptions): unknown {
  return walk(value, KEYS[schema], opts);
}
