/**
 * JSON the way Go's encoding/json writes it, for the places where libcni's bytes are observable:
 * the config sent to plugins on stdin and the result cache on disk.
 *
 * - `parseJsonTree` keeps number literals as written (`RawNumber`), so re-encoding a config never
 *   rounds a 64-bit integer or rewrites `1.0`; objects become `Map`s (last duplicate key wins, as in Go).
 * - `marshalGo` writes compact JSON with object keys sorted by their UTF-8 bytes (Go marshals
 *   `map[string]interface{}` that way) and Go's string escaping (`<`, `>`, `&`, U+2028/2029 escaped).
 * - `RawJson` embeds text that is already JSON verbatim (Go marshalling a struct inside a map).
 */

/** A JSON number kept as its source text. */
export class RawNumber {
  constructor(readonly text: string) {}
  toJSON(): number {
    return Number(this.text);
  }
}

/** Already-encoded JSON, written out unchanged. */
export class RawJson {
  constructor(readonly text: string) {}
}

export type JsonTree = null | boolean | string | RawNumber | RawJson | readonly JsonTree[] | JsonMap;
export type JsonMap = Map<string, JsonTree>;

export function isJsonMap(v: unknown): v is JsonMap {
  return v instanceof Map;
}

/**
 * Parse JSON text into a tree that keeps number literals. Throws SyntaxError (from the native
 * parser, which names the position) when the text is not JSON.
 */
export function parseJsonTree(text: string): JsonTree {
  JSON.parse(text); // validation with the runtime's own precise error message
  const p = new TreeParser(text);
  const v = p.value();
  return v;
}

class TreeParser {
  private i = 0;
  constructor(private readonly s: string) {}

  value(): JsonTree {
    this.ws();
    const c = this.s[this.i];
    if (c === "{") return this.object();
    if (c === "[") return this.array();
    if (c === '"') return this.string();
    if (c === "t") return this.literal("true", true);
    if (c === "f") return this.literal("false", false);
    if (c === "n") return this.literal("null", null);
    return this.number();
  }

  private ws(): void {
    while (this.i < this.s.length && " \t\n\r".includes(this.s[this.i] ?? "")) this.i++;
  }

  private literal<T extends JsonTree>(word: string, v: T): T {
    this.i += word.length;
    return v;
  }

  private number(): RawNumber {
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(this.s.slice(this.i));
    const text = m?.[0] ?? "";
    this.i += text.length;
    return new RawNumber(text);
  }

  private string(): string {
    const start = this.i;
    this.i++;
    while (this.s[this.i] !== '"') this.i += this.s[this.i] === "\\" ? 2 : 1;
    this.i++;
    return JSON.parse(this.s.slice(start, this.i)) as string;
  }

  private array(): JsonTree[] {
    const out: JsonTree[] = [];
    this.i++;
    this.ws();
    if (this.s[this.i] === "]") {
      this.i++;
      return out;
    }
    for (;;) {
      out.push(this.value());
      this.ws();
      if (this.s[this.i++] === "]") return out;
    }
  }

  private object(): JsonMap {
    const out: JsonMap = new Map();
    this.i++;
    this.ws();
    if (this.s[this.i] === "}") {
      this.i++;
      return out;
    }
    for (;;) {
      this.ws();
      const k = this.string();
      this.ws();
      this.i++; // ':'
      out.set(k, this.value());
      this.ws();
      if (this.s[this.i++] === "}") return out;
    }
  }
}

/** Convert plain parsed JSON (JSON.parse output) into a tree. */
export function toJsonTree(v: unknown): JsonTree {
  if (v === null || typeof v === "boolean" || typeof v === "string") return v;
  if (v instanceof RawNumber || v instanceof RawJson || v instanceof Map) return v as JsonTree;
  if (typeof v === "number") return new RawNumber(goFloat(v));
  if (Array.isArray(v)) return v.map(toJsonTree);
  if (typeof v === "object") {
    const m: JsonMap = new Map();
    for (const [k, x] of Object.entries(v)) if (x !== undefined) m.set(k, toJsonTree(x));
    return m;
  }
  throw new TypeError(`cannot encode ${typeof v} as JSON`);
}

/** Convert a tree back to plain values (numbers become JS numbers). */
export function fromJsonTree(t: JsonTree): unknown {
  if (t instanceof RawNumber) return Number(t.text);
  if (t instanceof RawJson) return JSON.parse(t.text) as unknown;
  if (t instanceof Map) {
    const o: Record<string, unknown> = {};
    for (const [k, v] of t)
      Object.defineProperty(o, k, { value: fromJsonTree(v), enumerable: true, writable: true, configurable: true });
    return o;
  }
  if (Array.isArray(t)) return t.map((x: JsonTree) => fromJsonTree(x));
  return t;
}

/** Go's float64 text: the shortest round-trip form, exponent only below 1e-6 or from 1e21. */
function goFloat(n: number): string {
  if (!Number.isFinite(n)) throw new TypeError(`json: unsupported value: ${n}`);
  return String(n);
}

const utf8 = new TextEncoder();
function byUtf8(a: string, b: string): number {
  return Buffer.compare(utf8.encode(a), utf8.encode(b));
}

/** Go's encoding/json string form (HTML-safe, as json.Marshal writes it). */
export function goString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const ch = s[i] ?? "";
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += "\\\\";
    else if (c === 0x0a) out += "\\n";
    else if (c === 0x0d) out += "\\r";
    else if (c === 0x09) out += "\\t";
    else if (c === 0x08) out += "\\b";
    else if (c === 0x0c) out += "\\f";
    else if (c < 0x20 || c === 0x3c || c === 0x3e || c === 0x26 || c === 0x2028 || c === 0x2029)
      out += `\\u${c.toString(16).padStart(4, "0")}`;
    else if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        out += ch + (s[i + 1] ?? "");
        i++;
      } else out += "\\ufffd";
    } else if (c >= 0xdc00 && c <= 0xdfff) out += "\\ufffd";
    else out += ch;
  }
  return `${out}"`;
}

/**
 * Compact JSON as Go's json.Marshal writes a value decoded into interface{}: map keys sorted
 * (unless `sortKeys` is false). Plain objects are treated like maps; `RawJson` is embedded as is.
 */
export function marshalGo(v: unknown, sortKeys = true): string {
  if (v === null || v === undefined) return "null";
  if (typeof v === "boolean") return v ? "true" : "false";
  if (typeof v === "string") return goString(v);
  if (typeof v === "number") return goFloat(v);
  if (v instanceof RawNumber) return v.text;
  if (v instanceof RawJson) return v.text;
  if (Array.isArray(v)) return `[${v.map((x: unknown) => marshalGo(x, sortKeys)).join(",")}]`;
  const entries = v instanceof Map ? [...(v as Map<string, unknown>).entries()] : Object.entries(v as object);
  const kept = entries.filter(([, x]) => x !== undefined);
  if (sortKeys) kept.sort(([a], [b]) => byUtf8(a, b));
  return `{${kept.map(([k, x]) => `${goString(k)}:${marshalGo(x, sortKeys)}`).join(",")}}`;
}

/** Compact JSON text keeping its key order (Go marshalling a struct), with Go's string escaping. */
export function compactGo(text: string): string {
  return marshalGo(parseJsonTree(text), false);
}

/** Go decodes object keys into struct fields case-insensitively; the last matching key wins. */
export function getFieldFold(m: JsonMap, name: string): JsonTree | undefined {
  const want = name.toLowerCase();
  let found: JsonTree | undefined;
  for (const [k, v] of m) if (k.toLowerCase() === want) found = v;
  return found;
}
