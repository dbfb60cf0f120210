/**
 * Small readers for plugin configuration objects decoded from JSON. Keys are looked up the way Go's
 * encoding/json matches struct fields: an exact match wins, else the last case-insensitive match.
 * Every reader throws a code-7 CniError that names the key, the value's type and what was expected.
 */
import { CniError, ErrorCode } from "../../libcni/types/error.ts";
import { findKey, getField } from "../../libcni/validate/fields.ts";

export type JsonObject = Record<string, unknown>;

export function isObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The JSON type name of a value, for messages ("string", "number", "object", "array", "null"). */
export function jsonType(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  return typeof v;
}

/** The key of `obj` that Go would decode into a field named `key` (libcni's Go-like lookup). */
export function fieldKey(obj: JsonObject, key: string): string | undefined {
  return findKey(obj, key);
}

/** The value Go would decode into a field named `key` (undefined when absent). */
export function field(obj: JsonObject, key: string): unknown {
  return getField(obj, key);
}

/** Prefix for messages: "failed to load netconf: " etc. */
function fail(where: string, key: string, want: string, got: unknown): never {
  throw new CniError(ErrorCode.InvalidNetworkConfig, `${where}'${key}' must be ${want}, got ${jsonType(got)}`);
}

export interface ReadOptions {
  /** Text put before every message, e.g. "failed to load flannel netconf file: ". */
  readonly where?: string;
}

/** A string field; absent or null gives `fallback`. */
export function optString(obj: JsonObject, key: string, fallback: string, o: ReadOptions = {}): string {
  const v = field(obj, key);
  if (v === undefined || v === null) return fallback;
  if (typeof v !== "string") fail(o.where ?? "", key, "a string", v);
  return v;
}

/** A boolean field; absent or null gives `fallback`. */
export function optBool(obj: JsonObject, key: string, fallback: boolean, o: ReadOptions = {}): boolean {
  const v = field(obj, key);
  if (v === undefined || v === null) return fallback;
  if (typeof v !== "boolean") fail(o.where ?? "", key, "true or false", v);
  return v;
}

/** An integer field; absent or null gives `fallback`. */
export function optInt(obj: JsonObject, key: string, fallback: number, o: ReadOptions = {}): number {
  const v = field(obj, key);
  if (v === undefined || v === null) return fallback;
  if (typeof v !== "number" || !Number.isInteger(v)) fail(o.where ?? "", key, "an integer", v);
  return v;
}

/** An object field; absent or null gives undefined (Go decodes null into a nil map). */
export function optObject(obj: JsonObject, key: string, o: ReadOptions = {}): JsonObject | undefined {
  const v = field(obj, key);
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) fail(o.where ?? "", key, "an object", v);
  return v;
}

/** An array field; absent or null gives undefined. */
export function optArray(obj: JsonObject, key: string, o: ReadOptions = {}): readonly unknown[] | undefined {
  const v = field(obj, key);
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) fail(o.where ?? "", key, "an array", v);
  return v;
}

/**
 * JSON text with object keys sorted at every level, as Go's json.Marshal prints a map. Saved files and
 * delegate configs are then byte-identical to the reference's for the same input.
 */
export function sortedJson(v: unknown): string {
  return JSON.stringify(sortKeys(v));
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (!isObject(v)) return v;
  const out: JsonObject = {};
  for (const k of Object.keys(v).sort()) out[k] = sortKeys(v[k]);
  return out;
}
