/**
 * The YAML subset kubeconfig files use (as written by kubectl, kubeadm, k3s, kind): block mappings
 * and sequences (including `- key: value` items and sequences at the parent key's indent), plain,
 * single- and double-quoted scalars, `|`/`>` block scalars, empty flow `{}`/`[]`, simple flow
 * collections of scalars, comments and a leading `---`. Anchors, tags and multi-documents are not
 * supported and raise an error naming the line.
 */

export type YamlValue = string | boolean | null | YamlValue[] | { [k: string]: YamlValue };

interface Line {
  indent: number;
  text: string;
  no: number;
}

export class YamlError extends Error {
  override readonly name = "YamlError";
}

function stripComment(s: string): string {
  let q: string | undefined;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (q) {
      if (c === q) q = undefined;
    } else if (c === '"' || c === "'") {
      if (i === 0 || /[\s:[{,-]/.test(s[i - 1] ?? "")) q = c;
    } else if (c === "#" && (i === 0 || /\s/.test(s[i - 1] ?? ""))) {
      return s.slice(0, i);
    }
  }
  return s;
}

function splitFlow(inner: string): string[] {
  const out: string[] = [];
  let cur = "";
  let q: string | undefined;
  for (const c of inner) {
    if (q) {
      if (c === q) q = undefined;
    } else if (c === '"' || c === "'") q = c;
    else if (c === ",") {
      out.push(cur.trim());
      cur = "";
      continue;
    }
    cur += c;
  }
  if (cur.trim() !== "") out.push(cur.trim());
  return out;
}

function scalar(raw: string, no: number): YamlValue {
  const s = raw.trim();
  if (s.startsWith('"')) {
    try {
      return JSON.parse(s) as string;
    } catch {
      throw new YamlError(`line ${no}: bad double-quoted string ${s}`);
    }
  }
  if (s.startsWith("'")) {
    if (!s.endsWith("'") || s.length < 2) throw new YamlError(`line ${no}: unterminated single-quoted string`);
    return s.slice(1, -1).replace(/''/g, "'");
  }
  if (s.startsWith("{") && s.endsWith("}")) {
    const o: Record<string, YamlValue> = {};
    for (const part of splitFlow(s.slice(1, -1))) {
      const kv = splitKey(part, no);
      if (!kv) throw new YamlError(`line ${no}: flow mapping entry ${part} has no "key: value"`);
      o[kv.key] = scalar(kv.rest, no);
    }
    return o;
  }
  if (s.startsWith("[") && s.endsWith("]")) return splitFlow(s.slice(1, -1)).map((p) => scalar(p, no));
  if (/^[&*!]/.test(s))
    throw new YamlError(`line ${no}: YAML anchors, aliases and tags are not supported: write the value out`);
  if (s === "" || s === "~" || s === "null") return null;
  if (s === "true" || s === "True") return true;
  if (s === "false" || s === "False") return false;
  return s;
}

/** Split `key: rest` (key possibly quoted); undefined when the text is not a mapping entry. */
function splitKey(text: string, no: number): { key: string; rest: string } | undefined {
  const m = /^("(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^\s"'#][^:]*?)\s*:(?:\s+(.*)|$)/.exec(text);
  if (!m) return undefined;
  const k = m[1] ?? "";
  const key = k.startsWith('"') || k.startsWith("'") ? String(scalar(k, no)) : k;
  return { key, rest: m[2] ?? "" };
}

class Parser {
  i = 0;
  constructor(readonly lines: Line[]) {}

  peek(): Line | undefined {
    return this.lines[this.i];
  }

  block(indent: number): YamlValue {
    const l = this.peek();
    if (!l || l.indent < indent) return null;
    return isSeqItem(l.text) ? this.seq(l.indent) : this.map(l.indent);
  }

  blockScalar(parentIndent: number, folded: boolean): string {
    const parts: string[] = [];
    while (this.peek() && (this.peek() as Line).indent > parentIndent) parts.push((this.lines[this.i++] as Line).text);
    return folded ? `${parts.join(" ")}\n` : `${parts.join("\n")}\n`;
  }

  value(rest: string, l: Line): YamlValue {
    if (rest === "|" || rest === "|-" || rest === ">" || rest === ">-") {
      const v = this.blockScalar(l.indent, rest.startsWith(">"));
      return rest.endsWith("-") ? v.replace(/\n$/, "") : v;
    }
    if (rest !== "") return scalar(rest, l.no);
    const next = this.peek();
    if (next && next.indent > l.indent) return this.block(next.indent);
    if (next && next.indent === l.indent && isSeqItem(next.text)) return this.seq(l.indent);
    return null;
  }

  map(indent: number): YamlValue {
    const out: Record<string, YamlValue> = {};
    for (let l = this.peek(); l && l.indent === indent && !isSeqItem(l.text); l = this.peek()) {
      const kv = splitKey(l.text, l.no);
      if (!kv) throw new YamlError(`line ${l.no}: expected "key: value", got ${JSON.stringify(l.text)}`);
      this.i++;
      out[kv.key] = this.value(kv.rest, l);
    }
    const l = this.peek();
    if (l && l.indent > indent) throw new YamlError(`line ${l.no}: unexpected indentation`);
    return out;
  }

  seq(indent: number): YamlValue {
    const out: YamlValue[] = [];
    for (let l = this.peek(); l && l.indent === indent && isSeqItem(l.text); l = this.peek()) {
      const rest = l.text === "-" ? "" : l.text.slice(2).trimStart();
      const col = indent + (l.text.length - rest.length);
      if (rest === "") {
        this.i++;
        const next = this.peek();
        out.push(next && next.indent > indent ? this.block(next.indent) : null);
      } else if (!rest.startsWith("{") && !rest.startsWith("[") && splitKey(rest, l.no)) {
        this.lines[this.i] = { indent: col, text: rest, no: l.no };
        out.push(this.map(col));
      } else {
        this.i++;
        out.push(scalar(rest, l.no));
      }
    }
    return out;
  }
}

function isSeqItem(text: string): boolean {
  return text === "-" || text.startsWith("- ");
}

/** Parse a YAML document of the kubeconfig subset. */
export function parseYaml(text: string): YamlValue {
  const lines: Line[] = [];
  text.split(/\r?\n/).forEach((raw, idx) => {
    if (idx === 0 && raw.trim() === "---") return;
    if (raw.includes("\t") && /^\s*\t/.test(raw))
      throw new YamlError(`line ${idx + 1}: tabs are not allowed for indentation`);
    const t = stripComment(raw).trimEnd();
    if (t.trim() === "") return;
    if (t.trim() === "---" || t.trim() === "...")
      throw new YamlError(`line ${idx + 1}: only one YAML document is supported`);
    lines.push({ indent: t.length - t.trimStart().length, text: t.trimStart(), no: idx + 1 });
  });
  if (lines.length === 0) return null;
  const p = new Parser(lines);
  const v = p.block(0);
  const left = p.peek();
  if (left) throw new YamlError(`line ${left.no}: unexpected content ${JSON.stringify(left.text)}`);
  return v;
}
