/**
 * Typed wrapper over the build-time compiled schema validators (generated/validators.js).
 * Nothing here compiles a schema: a check is a plain function call.
 */
import { CniError } from "../types/error.ts";
import { canonicalize, type CanonicalizeOptions, type SchemaName } from "./fields.ts";
import * as compiled from "./generated/validators.js";
import type { ValidateFunction, ValidationError } from "./generated/types.ts";

export type { SchemaName, CanonicalizeOptions };
export { canonicalize, findKey, getField, isObject } from "./fields.ts";
export { validateContainerID, validateInterfaceName, validateNetworkName } from "./names.ts";

const VALIDATORS: Readonly<Record<SchemaName, ValidateFunction>> = compiled;

/** One schema violation: where (e.g. "ips[0].interface") and what, as a sentence. */
export interface SchemaIssue {
  readonly path: string;
  readonly message: string;
}

/** "/ips/0/interface" -> "ips[0].interface"; the root is "" . */
export function formatPath(instancePath: string): string {
  let out = "";
  for (const raw of instancePath.split("/").slice(1)) {
    const seg = raw.replaceAll("~1", "/").replaceAll("~0", "~");
    if (/^\d+$/.test(seg)) out += `[${seg}]`;
    else if (/^[A-Za-z_$][\w$]*$/.test(seg)) out += out === "" ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

function dataAt(root: unknown, instancePath: string): unknown {
  let cur = root;
  for (const raw of instancePath.split("/").slice(1)) {
    const seg = raw.replaceAll("~1", "/").replaceAll("~0", "~");
    cur = typeof cur === "object" && cur !== null ? (cur as Record<string, unknown>)[seg] : undefined;
  }
  return cur;
}

/** Short description of a JSON value for messages: "abc" -> `"abc"`, [] -> `an array`. */
export function describeValue(v: unknown): string {
  if (Array.isArray(v)) return "an array";
  if (typeof v === "object" && v !== null) return "an object";
  // JSON.parse reads 1e400 as Infinity, which JSON.stringify would print as null.
  if (typeof v === "number" && !Number.isFinite(v)) return "a number out of range";
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

const TYPE_NAMES: Readonly<Record<string, string>> = {
  string: "a string",
  integer: "an integer",
  number: "a number",
  boolean: "a boolean",
  object: "an object",
  array: "an array",
  "boolean,string": 'a boolean or the string "true"/"false"',
};

function issueOf(e: ValidationError, data: unknown): SchemaIssue {
  const path = formatPath(e.instancePath);
  const where = path === "" ? "the document" : `"${path}"`;
  if (e.keyword === "type") {
    const t = String(e.params["type"]);
    return {
      path,
      message: `${where} must be ${TYPE_NAMES[t] ?? t}, got ${describeValue(dataAt(data, e.instancePath))}`,
    };
  }
  if (e.keyword === "required") {
    const missing = String(e.params["missingProperty"]);
    const full = path === "" ? missing : `${path}.${missing}`;
    return { path: full, message: `"${full}" is required` };
  }
  return { path, message: `${where} ${e.message ?? `fails ${e.keyword}`}` };
}

/** The first violation of schema `name` in data (already canonicalized), or undefined. */
export function schemaIssue(name: SchemaName, data: unknown): SchemaIssue | undefined {
  const v = VALIDATORS[name];
  if (v(data)) return undefined;
  const e = v.errors?.[0];
  return e ? issueOf(e, data) : { path: "", message: `does not match the ${name} schema` };
}

export interface DecodeOptions extends CanonicalizeOptions {
  /** CNI error code for a violation: 7 for configuration, 6 for decoded protocol data. */
  readonly code: number;
  /** Text put before the violation, e.g. "error parsing configuration list: ". */
  readonly prefix?: string;
  /** What to do about it, put in the error details. */
  readonly hint?: string;
}

/** Canonicalize then validate; throws CniError(opts.code) naming the field. */
export function decodeWith(name: SchemaName, raw: unknown, opts: DecodeOptions): Record<string, unknown> {
  const data = canonicalize(name, raw, opts);
  const issue = schemaIssue(name, data);
  if (issue) throw new CniError(opts.code, `${opts.prefix ?? ""}${issue.message}`, opts.hint ?? "");
  return data as Record<string, unknown>;
}
