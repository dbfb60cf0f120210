/**
 * A strict reader of the Prometheus text exposition format (0.0.4), for tests: it throws, naming the
 * line, on anything a scraper could reject or misread: a bad metric or label name, a bad escape, a
 * value that is not a float, a sample before its family's `# TYPE`, a family split in two, a
 * duplicate series, a counter that is negative or not named `_total`, a histogram whose buckets are
 * not cumulative, do not end in `+Inf`, or disagree with `_count`.
 */

export interface ParsedSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface ParsedFamily {
  readonly name: string;
  readonly type: "counter" | "gauge" | "histogram" | "summary" | "untyped";
  help: string | undefined;
  readonly samples: ParsedSample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(["counter", "gauge", "histogram", "summary", "untyped"]);

export class ExpositionError extends Error {
  override readonly name = "ExpositionError";
}

function parseValue(text: string, where: string): number {
  if (text === "+Inf") return Number.POSITIVE_INFINITY;
  if (text === "-Inf") return Number.NEGATIVE_INFINITY;
  if (text === "NaN") return Number.NaN;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) throw new ExpositionError(`${where}: bad value "${text}"`);
  return Number(text);
}

/** `{a="x",b="y"}` starting at `s[i] === "{"`; returns the labels and the index after `}`. */
function parseLabels(s: string, start: number, where: string): { labels: Record<string, string>; end: number } {
  const labels: Record<string, string> = {};
  let i = start + 1;
  for (;;) {
    if (s[i] === "}") return { labels, end: i + 1 };
    const eq = s.indexOf("=", i);
    if (eq < 0) throw new ExpositionError(`${where}: label without "="`);
    const name = s.slice(i, eq);
    if (!LABEL.test(name)) throw new ExpositionError(`${where}: bad label name "${name}"`);
    if (Object.hasOwn(labels, name)) throw new ExpositionError(`${where}: label ${name} twice`);
    if (s[eq + 1] !== '"') throw new ExpositionError(`${where}: label ${name} value is not quoted`);
    let v = "";
    let j = eq + 2;
    for (; ; j++) {
      const c = s[j];
      if (c === undefined) throw new ExpositionError(`${where}: unterminated value of label ${name}`);
      if (c === '"') break;
      if (c === "\\") {
        const n = s[++j];
        if (n === "\\") v += "\\";
        else if (n === '"') v += '"';
        else if (n === "n") v += "\n";
        else throw new ExpositionError(`${where}: bad escape "\\${n ?? ""}" in label ${name}`);
      } else if (c === "\n") {
        throw new ExpositionError(`${where}: raw newline in label ${name}`);
      } else v += c;
    }
    labels[name] = v;
    i = j + 1;
    if (s[i] === ",") i++;
    else if (s[i] !== "}") throw new ExpositionError(`${where}: expected "," or "}" after label ${name}`);
  }
}

function familyOf(sampleName: string, families: ReadonlyMap<string, ParsedFamily>): ParsedFamily | undefined {
  const direct = families.get(sampleName);
  if (direct) return direct;
  for (const suffix of ["_bucket", "_sum", "_count"]) {
    if (!sampleName.endsWith(suffix)) continue;
    const f = families.get(sampleName.slice(0, -suffix.length));
    if (f && (f.type === "histogram" || f.type === "summary")) return f;
  }
  return undefined;
}

function seriesKey(name: string, labels: Readonly<Record<string, string>>, omit?: string): string {
  const keys = Object.keys(labels)
    .filter((k) => k !== omit)
    .sort();
  return `${name}{${keys.map((k) => `${k}=${JSON.stringify(labels[k])}`).join(",")}}`;
}

function checkHistogram(f: ParsedFamily): void {
  const series = new Map<string, { buckets: [number, number][]; sum?: number; count?: number }>();
  for (const s of f.samples) {
    const key = seriesKey(f.name, s.labels, "le");
    let e = series.get(key);
    if (!e) series.set(key, (e = { buckets: [] }));
    if (s.name === `${f.name}_bucket`) {
      const le = s.labels["le"];
      if (le === undefined) throw new ExpositionError(`${key}: _bucket without le`);
      e.buckets.push([parseValue(le, `${key} le`), s.value]);
    } else if (s.name === `${f.name}_sum`) e.sum = s.value;
    else if (s.name === `${f.name}_count`) e.count = s.value;
    else throw new ExpositionError(`histogram ${f.name}: unexpected sample ${s.name}`);
  }
  for (const [key, e] of series) {
    if (e.sum === undefined || e.count === undefined)
      throw new ExpositionError(`${key}: histogram without _sum/_count`);
    const last = e.buckets.at(-1);
    if (!last || last[0] !== Number.POSITIVE_INFINITY) throw new ExpositionError(`${key}: last bucket is not +Inf`);
    if (last[1] !== e.count) throw new ExpositionError(`${key}: +Inf bucket ${last[1]} != _count ${e.count}`);
    for (let i = 1; i < e.buckets.length; i++) {
      const [pb, pc] = e.buckets[i - 1] ?? [0, 0];
      const [b, c] = e.buckets[i] ?? [0, 0];
      if (!(b > pb)) throw new ExpositionError(`${key}: bucket bounds not increasing (${pb}, ${b})`);
      if (c < pc) throw new ExpositionError(`${key}: buckets not cumulative (${pc} then ${c})`);
    }
  }
}

/** Parse and check an exposition text; families by name, in the order they appear. */
export function parseExposition(text: string): Map<string, ParsedFamily> {
  const families = new Map<string, ParsedFamily>();
  const helps = new Map<string, string>();
  const series = new Set<string>();
  const closed = new Set<string>();
  let current: ParsedFamily | undefined;
  if (text !== "" && !text.endsWith("\n")) throw new ExpositionError("the text does not end with a newline");
  const lines = text.split("\n");
  lines.pop();
  lines.forEach((line, n) => {
    const where = `line ${n + 1}`;
    if (line === "") return;
    if (line.startsWith("#")) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (!m) return;
      const [, kind, name = "", rest = ""] = m;
      if (!NAME.test(name)) throw new ExpositionError(`${where}: bad metric name "${name}"`);
      if (kind === "HELP") {
        if (helps.has(name)) throw new ExpositionError(`${where}: second HELP for ${name}`);
        if (/\\[^\\n]/.test(rest.replaceAll("\\\\", ""))) throw new ExpositionError(`${where}: bad escape in HELP`);
        helps.set(name, rest.replaceAll("\\n", "\n").replaceAll("\\\\", "\\"));
        const f = families.get(name);
        if (f) f.help = helps.get(name);
        return;
      }
      if (!TYPES.has(rest)) throw new ExpositionError(`${where}: unknown type "${rest}"`);
      if (families.has(name)) throw new ExpositionError(`${where}: second TYPE for ${name}`);
      if (current) closed.add(current.name);
      current = { name, type: rest as ParsedFamily["type"], help: helps.get(name), samples: [] };
      families.set(name, current);
      return;
    }
    const nameEnd = line.search(/[{ ]/);
    if (nameEnd <= 0) throw new ExpositionError(`${where}: not a sample: ${line}`);
    const name = line.slice(0, nameEnd);
    if (!NAME.test(name)) throw new ExpositionError(`${where}: bad metric name "${name}"`);
    let labels: Record<string, string> = {};
    let i = nameEnd;
    if (line[i] === "{") ({ labels, end: i } = parseLabels(line, i, where));
    if (line[i] !== " ") throw new ExpositionError(`${where}: expected a space before the value`);
    const fields = line.slice(i + 1).split(" ");
    if (fields.length > 2 || fields[0] === "") throw new ExpositionError(`${where}: bad value/timestamp part`);
    const value = parseValue(fields[0] ?? "", where);
    if (fields[1] !== undefined && !/^-?\d+$/.test(fields[1]))
      throw new ExpositionError(`${where}: bad timestamp "${fields[1]}"`);
    const f = familyOf(name, families);
    if (!f) throw new ExpositionError(`${where}: sample ${name} before its # TYPE line`);
    if (f !== current || closed.has(f.name)) throw new ExpositionError(`${where}: family ${f.name} is split`);
    const key = seriesKey(name, labels);
    if (series.has(key)) throw new ExpositionError(`${where}: duplicate series ${key}`);
    series.add(key);
    if (f.type === "counter") {
      if (!f.name.endsWith("_total")) throw new ExpositionError(`${where}: counter ${f.name} is not named *_total`);
      if (!(value >= 0)) throw new ExpositionError(`${where}: counter ${f.name} is ${value}`);
    }
    f.samples.push({ name, labels, value });
  });
  for (const f of families.values()) if (f.type === "histogram") checkHistogram(f);
  return families;
}

/** The value of the one sample of `name` whose labels include `labels`; throws when there is not exactly one. */
export function sampleValue(
  families: ReadonlyMap<string, ParsedFamily>,
  name: string,
  labels: Readonly<Record<string, string>> = {},
): number {
  const all = [...families.values()].flatMap((f) => f.samples);
  const hits = all.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (hits.length !== 1) throw new Error(`${hits.length} samples of ${name} ${JSON.stringify(labels)}`);
  return (hits[0] as ParsedSample).value;
}
