/**
 * Differential test of result decoding, conversion and printing against the reference Go libcni
 * as Debian ships it (golang-github-appc-cni-dev 1.1.2), through dist/ref/go-convert
 * (netns-fixtures/oracles/go-convert, built by scripts/build-go-cnitool.sh). Seeded: the seed is printed,
 * WEFT_FUZZ_SEED=<n> replays a run.
 *
 * For every source version, a few thousand random results (libcni/testing/convert-differential.gen.ts) go to
 * every target version through Go and through createResult + convertResult + formatResult here;
 * success/failure must agree, the printed bytes must be equal, error texts equal (our `msg`; the
 * `details` hint is ours alone) unless an entry of EXCEPTIONS names the difference and why.
 *
 * Debian's library is older than the libcni our code follows; REFERENCE_DELTAS lists what changed
 * since and how each answer is adjusted, so only real differences are left.
 *
 * Known differences the generator leaves out (they would fail here):
 *   - an integer written 1.0 or 1e3: Go refuses it for an int field, JSON.parse loses the spelling
 *     and we read 1 and 1000;
 *   - a result with several faults: Go reports the first in document order, we check field by
 *     field (addresses first, then types, then the version).
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { SPEC_VERSIONS } from "../version.ts";
import { Rng } from "../../netns-fixtures/fuzz/fuzz.ts";
import { ResultGen, type Extras, type Family, type Generated } from "../testing/convert-differential.gen.ts";
import { convertResult } from "./convert.ts";
import { CniError, isCniError } from "./error.ts";
import { formatResult } from "./format.ts";
import { asJsonObject, createResult, parseResult } from "./parse.ts";
import { familyOf, type AnyResult } from "./result.ts";

const GO_CONVERT = join(dirname(fileURLToPath(import.meta.url)), "../../dist/ref/go-convert");
const SEED = process.env["WEFT_FUZZ_SEED"] ? Number(process.env["WEFT_FUZZ_SEED"]) : 20261125;
const PER_SOURCE = 2000;
/** How many mismatches to print per source version (WEFT_FUZZ_SHOW overrides). */
const SHOW = Number(process.env["WEFT_FUZZ_SHOW"] ?? 12);
const UNKNOWN_VERSIONS = ["0.5.0", "1.2.0", "2.0.0", "1.0", "v1.0.0"] as const;

interface GoAnswer {
  readonly ok?: string;
  readonly map?: string;
  readonly err?: string;
  readonly panic?: string;
}
type Ours = { readonly ok: string } | { readonly err: CniError };

/** How Debian's libcni 1.1.2 differs from the libcni our code follows, and what the test does about it. */
const REFERENCE_DELTAS = {
  "spec-1.1.0":
    "1.1.2 predates spec 1.1.0; newer libcni decodes 1.0.0 and 1.1.0 with one struct and converts " +
    "between them by setting cniVersion only. Requests naming 1.1.0 are sent as 1.0.0, a " +
    "1.1.0 target's printed cniVersion and the creator's version list in errors are relabelled.",
  "1.x-print-via-map":
    "newer libcni prints 1.x results through a map: keys sorted, dns left out " +
    "when empty (1.1.2 keeps struct order and always prints dns). The oracle " +
    "prints that form too (its `map` answer) and 1.x targets are compared with it.",
  "head-only-fields":
    "route mtu/advmss/priority/table/scope and interface mtu/socketPath/pciID came after 1.1.2, which " +
    "ignores them. They are checked against newer libcni's rules (routes keep them except when a 0.3+ " +
    "result is turned into 0.1.0/0.2.0; interfaces keep them only between 1.x versions; mtu/advmss/priority " +
    "omitted when 0, table/scope printed when set) and removed from our output before the byte comparison.",
  "go-1.22-escapes":
    "Go 1.22+ writes \\b and \\f in strings; Debian's Go 1.19 " +
    "wrote \\u0008 and \\u000c. The oracle's escapes are rewritten.",
} as const;
type Delta = keyof typeof REFERENCE_DELTAS;

interface Exception {
  readonly reason: string;
  readonly matches: (go: GoAnswer, ours: CniError) => boolean;
}

/** Where we refuse differently from Go on purpose. Every entry needs our code 6 (decoding failure). */
const EXCEPTIONS: Readonly<Record<string, Exception>> = {
  "json type error": {
    reason:
      "Go prints encoding/json's \"json: cannot unmarshal number into Go " +
      'struct field ..."; ours names the JSON path and the expected type',
    matches: (go, ours) =>
      /^(decoding version from network config: )?json: cannot unmarshal /.test(go.err ?? "") &&
      /^(invalid result: "[^"]*" must be |result must be a JSON object, got )/.test(ours.msg),
  },
  "null list entry": {
    reason:
      "Go decodes a null in interfaces/ips/routes as a nil entry: prints it as null " +
      'or "<nil>", drops it when converting, panics on it in some conversions, ' +
      "or reports another fault of the result first; ours refuses naming the entry",
    matches: (_go, ours) => /^invalid result: "[^"]*\[\d+\]" must be an object, got null$/.test(ours.msg),
  },
  "missing address": {
    reason:
      'Go accepts an ip/address/dst left out: prints "<nil>" for it, drops it when ' +
      "converting, or reports another fault of the result first; ours refuses naming the field",
    matches: (_go, ours) => /^invalid result: "[^"]*\.(ip|address|dst)" is required$/.test(ours.msg),
  },
  "unsafe integer": {
    reason:
      "Go's int holds up to 2^63-1 and prints it exactly (or reports another fault of the result later); " +
      "a JS number cannot, so ours refuses integers beyond 2^53-1 instead of printing a different number",
    matches: (go, ours) =>
      go.panic === undefined && /^invalid result: "[^"]*" must be an integer between /.test(ours.msg),
  },
};

const ROUTE_EXTRAS = ["mtu", "advmss", "priority", "table", "scope"] as const;
const IFACE_EXTRAS = ["mtu", "socketPath", "pciID"] as const;
const OMIT_ZERO = new Set(["mtu", "advmss", "priority", "socketPath", "pciID"]);

/** Extras as newer libcni prints them: zero mtu/advmss/priority and empty strings left out. */
function printedExtras(e: Extras): Record<string, number | string> {
  const out: Record<string, number | string> = {};
  for (const [k, v] of Object.entries(e)) if (!(OMIT_ZERO.has(k) && (v === 0 || v === ""))) out[k] = v;
  return out;
}

type JsonObj = Record<string, unknown>;
const asObj = (v: unknown): JsonObj => (typeof v === "object" && v !== null && !Array.isArray(v) ? (v as JsonObj) : {});
const asList = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** Take the HEAD-only keys out of a printed result; returns what was taken, in output order. */
function takeExtras(doc: JsonObj): { routes: JsonObj[]; ifaces: JsonObj[] } {
  const take = (o: unknown, keys: readonly string[]): JsonObj => {
    const obj = asObj(o);
    const got: JsonObj = {};
    for (const k of keys) {
      if (k in obj) {
        got[k] = obj[k];
        delete obj[k];
      }
    }
    return got;
  };
  const routeLists = [doc["routes"], asObj(doc["ip4"])["routes"], asObj(doc["ip6"])["routes"]];
  return {
    routes: routeLists.flatMap((l) => asList(l).map((r) => take(r, ROUTE_EXTRAS))),
    ifaces: asList(doc["interfaces"]).map((i) => take(i, IFACE_EXTRAS)),
  };
}

const sortedEntries = (o: JsonObj): string => JSON.stringify(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : 1)));

/** Go's encoding/json text of a parsed document (MarshalIndent layout and HTML escapes). */
function goText(doc: unknown): string {
  const esc: Record<string, string> = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
  };
  return JSON.stringify(doc, null, 4).replace(/[<>&\u2028\u2029]/g, (c) => esc[c] ?? c);
}

/**
 * Our printed text with the HEAD-only fields checked and removed. Returns a problem description
 * when they are not where newer libcni would print them.
 */
function checkHeadOnly(
  text: string,
  g: Generated,
  fromFamily: Family,
  toFamily: Family,
): { text: string; problem?: string } {
  const doc = asObj(JSON.parse(text));
  const got = takeExtras(doc);
  const routesKept = !(toFamily === "020" && fromFamily !== "020");
  const wantRoutes = got.routes.map((_, i) => (routesKept ? printedExtras(g.routeExtras[i] ?? {}) : {}));
  const wantIfaces = got.ifaces.map((_, i) =>
    fromFamily === "100" && toFamily === "100" ? printedExtras(g.ifaceExtras[i] ?? {}) : {},
  );
  // Routes reach a 0.1.0/0.2.0 result from a 0.3+ one split by family; the extras are gone then anyway.
  const a = JSON.stringify([got.routes.map(sortedEntries), got.ifaces.map(sortedEntries)]);
  const b = JSON.stringify([wantRoutes.map(sortedEntries), wantIfaces.map(sortedEntries)]);
  return a === b
    ? { text: goText(doc) }
    : { text: goText(doc), problem: `HEAD-only fields: printed ${a}, newer libcni prints ${b}` };
}

const GO_VERSION = (v: string): string => (v === "1.1.0" ? "1.0.0" : v);
/** `from` for a result decoded by its own cniVersion: Go's create.CreateFromBytes, our parseResult. */
const AUTO = "auto";

/**
 * The request line for the oracle, with 1.1.0 spelled 1.0.0 (REFERENCE_DELTAS spec-1.1.0); the
 * result's own cniVersion is its first key, however spelled.
 */
function goRequest(raw: string, from: string, to: string): string {
  const goRaw = familyOf(from) === "100" || from === AUTO ? raw.replace(/^\{("[^"]*"):"1\.1\.0"/, '{$1:"1.0.0"') : raw;
  return `{"result":${goRaw},"from":${JSON.stringify(GO_VERSION(from))},"to":${JSON.stringify(GO_VERSION(to))}}`;
}

/** Go's answer as newer libcni would give it; `used` collects the REFERENCE_DELTAS applied. */
function adjust(go: GoAnswer, c: Case, used: Set<Delta>): GoAnswer {
  const swap = (s: string, from: string | RegExp, to: string, delta: Delta): string => {
    const out = s.replace(from, to);
    if (out !== s) used.add(delta);
    return out;
  };
  if (go.err !== undefined) {
    const err = swap(go.err, "result type supports [1.0.0] ", "result type supports [1.0.0 1.1.0] ", "spec-1.1.0");
    return {
      err:
        c.own === "1.1.0"
          ? swap(
              err,
              "no converter for CNI result version 1.0.0 ",
              "no converter for CNI result version 1.1.0 ",
              "spec-1.1.0",
            )
          : err,
    };
  }
  if (go.ok === undefined) return go;
  if (go.map !== undefined) used.add("1.x-print-via-map");
  let ok = go.map ?? go.ok;
  ok = swap(ok, /(?<!\\)((?:\\\\)*)\\u0008/g, "$1\\b", "go-1.22-escapes");
  ok = swap(ok, /(?<!\\)((?:\\\\)*)\\u000c/g, "$1\\f", "go-1.22-escapes");
  if (c.to === "1.1.0") ok = swap(ok, /^\{\n {4}"cniVersion": "1\.0\.0"/, '{\n    "cniVersion": "1.1.0"', "spec-1.1.0");
  return { ok };
}

function deepFreeze<T>(v: T): T {
  if (typeof v === "object" && v !== null) {
    for (const x of Object.values(v)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}

function ours(parsed: AnyResult | CniError, to: string): Ours {
  if (parsed instanceof CniError) return { err: parsed };
  try {
    return { ok: formatResult(convertResult(parsed, to)) };
  } catch (e) {
    if (isCniError(e)) return { err: e };
    throw e;
  }
}

function parseOurs(raw: string, from: string): AnyResult | CniError {
  try {
    // Go's Create picks the creator by version before it reads the bytes; createResult takes a
    // parsed object, so for an unknown version it is handed one without parsing the text.
    if (from === AUTO) return deepFreeze(parseResult(raw));
    return deepFreeze(createResult(from, familyOf(from) ? asJsonObject(raw, "result") : {}));
  } catch (e) {
    if (isCniError(e)) return e;
    throw e;
  }
}

interface Case {
  readonly g: Generated;
  readonly from: string;
  readonly to: string;
  /** The result family it is decoded as. */
  readonly family: Family;
  /** The cniVersion written in the result (undefined: left out). */
  readonly own: string | undefined;
}

function casesFor(source: string, rng: Rng): Case[] {
  const family = familyOf(source) as Family;
  const cases: Case[] = [];
  const others = [...SPEC_VERSIONS, ...UNKNOWN_VERSIONS, ""];
  for (let i = 0; i < PER_SOURCE; i++) {
    const from = rng.chance(0.1) ? AUTO : family === "020" && rng.chance(0.1) ? "" : source;
    const own = rng.chance(0.9) ? source : rng.chance(0.5) ? undefined : rng.pick(others);
    const g = new ResultGen(rng, { family, cniVersion: own, breakRate: 0.03 }).generate();
    const targets: string[] = [...SPEC_VERSIONS];
    if (rng.chance(0.1)) targets.push("");
    if (rng.chance(0.05)) targets.push(rng.pick(UNKNOWN_VERSIONS));
    // The family the result is decoded as: by its own version when it names it itself.
    const decodedAs = from === AUTO ? (familyOf(own ?? "") ?? family) : family;
    for (const to of targets) cases.push({ g, from, to, family: decodedAs, own });
  }
  return cases;
}

interface Tally {
  compared: number;
  okEqual: number;
  errEqual: number;
  /** Successful conversions whose newer-libcni fields were checked and taken out. */
  headOnly: number;
  deltas: Partial<Record<Delta, number>>;
  exceptions: Record<string, number>;
  mismatches: string[];
}

const newTally = (): Tally => ({
  compared: 0,
  okEqual: 0,
  errEqual: 0,
  headOnly: 0,
  deltas: {},
  exceptions: {},
  mismatches: [],
});

function compare(c: Case, goRaw: GoAnswer, mine: Ours, tally: Tally): void {
  tally.compared++;
  const used = new Set<Delta>();
  const go = adjust(goRaw, c, used);
  if (c.g.headOnly && go.ok !== undefined) used.add("head-only-fields");
  for (const d of used) tally.deltas[d] = (tally.deltas[d] ?? 0) + 1;
  const fail = (why: string): void => {
    if (tally.mismatches.length < SHOW)
      tally.mismatches.push(
        `${c.from} -> ${JSON.stringify(c.to)}: ${why}\n  result: ${c.g.raw}\n  go: ${JSON.stringify(goRaw)}\n` +
          `  ours: ${"ok" in mine ? mine.ok : JSON.stringify(mine.err.toJSON())}`,
      );
  };
  if ("err" in mine) {
    if (go.err !== undefined && go.err === mine.err.msg) {
      tally.errEqual++;
      return;
    }
    const hit = Object.entries(EXCEPTIONS).find(([, ex]) => mine.err.code === 6 && ex.matches(go, mine.err));
    if (hit) tally.exceptions[hit[0]] = (tally.exceptions[hit[0]] ?? 0) + 1;
    else fail(go.err !== undefined ? "different error" : "we refuse, Go accepts");
    return;
  }
  if (go.ok === undefined) return fail("we accept, Go refuses");
  let text = mine.ok;
  if (c.g.headOnly) {
    const checked = checkHeadOnly(text, c.g, c.family, familyOf(c.to === "" ? "0.1.0" : c.to) as Family);
    if (checked.problem) return fail(checked.problem);
    text = checked.text;
    tally.headOnly++;
  }
  if (text !== go.ok) return fail("printed differently");
  tally.okEqual++;
}

function runGo(lines: readonly string[]): GoAnswer[] {
  const p = spawnSync(GO_CONVERT, { input: `${lines.join("\n")}\n`, maxBuffer: 1 << 30, encoding: "utf8" });
  if (p.status !== 0) throw new Error(`go-convert failed (${String(p.status)}): ${p.stderr}`);
  const answers = p.stdout
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as GoAnswer);
  if (answers.length !== lines.length)
    throw new Error(`go-convert answered ${answers.length} of ${lines.length} requests`);
  return answers;
}

describe.skipIf(!existsSync(GO_CONVERT))("result conversion against Debian's Go libcni (dist/ref/go-convert)", () => {
  beforeAll(() =>
    console.log(
      `convert-differential: seed ${SEED} (WEFT_FUZZ_SEED=<n> to replay), ${PER_SOURCE} results per source version`,
    ),
  );

  it.each(SPEC_VERSIONS.map((v, i) => [v, i] as const))(
    "decodes, converts and prints %s results to every version exactly as Go does",
    (source, i) => {
      const rng = new Rng(SEED + i * 7919);
      const cases = casesFor(source, rng);
      const answers = runGo(cases.map((c) => goRequest(c.g.raw, c.from, c.to)));
      const tally = newTally();
      const parsed = new Map<string, AnyResult | CniError>();
      cases.forEach((c, k) => {
        const key = `${c.from}\n${c.g.raw}`;
        let p = parsed.get(key);
        if (p === undefined) parsed.set(key, (p = parseOurs(c.g.raw, c.from)));
        compare(c, answers[k] ?? {}, ours(p, c.to), tally);
      });
      console.log(
        `  ${source}: ${tally.compared} conversions, ${tally.okEqual} equal outputs, ${tally.errEqual} ` +
          `equal errors (${tally.headOnly} outputs with newer-libcni fields checked), Go answers ` +
          `adjusted ${JSON.stringify(tally.deltas)}, exceptions ${JSON.stringify(tally.exceptions)}`,
      );
      expect(tally.mismatches.join("\n\n")).toBe("");
      expect(tally.okEqual).toBeGreaterThan(tally.compared / 3);
    },
  );

  it(
    "treats hand-picked edge documents (null, empty, non-objects, nulls, empty lists, " +
      "keys spelled twice) from every version (and unknown ones) to every version as Go does",
    () => {
      const docs = [
        "null",
        "{}",
        "[]",
        '"1.0.0"',
        "7",
        '{"cniVersion":null}',
        '{"cniVersion":1,"ips":[]}',
        '{"cniVersion":"","ip4":{"ip":"10.1.2.3/24"}}',
        '{"CNIVERSION":"%V"}',
        '{"cniVersion":"%V","ips":null,"routes":[],"interfaces":[],"dns":{}}',
        '{"cniVersion":"%V","ip4":null,"ip6":{"ip":"::1/128","routes":null},"dns":{"nameservers":null,"domain":null}}',
        '{"cniVersion":"%V","ip4":{"ip":"10.1.2.3/24","gateway":null,"routes":[{"dst":"0.0.0.0/0","gw":null}]}}',
        '{"cniVersion":"%V","ips":[{"version":"4","address":"10.1.2.3/24",' +
          '"interface":null,"gateway":null}],"dns":null}',
        '{"cniVersion":"%V","interfaces":[{"name":null,"mac":null}],"ips":[{"address":"::ffff:10.1.2.3/104"}]}',
        '{"cniVersion":"%V","ips":{}}',
        '{"cniVersion":"%V","dns":[]}',
        '{"cniVersion":"%V","dns":{"nameservers":"8.8.8.8"}}',
        '{"cniVersion":"%V","ip4":"10.1.2.3/24"}',
        '{"cniVersion":"%V","ips":[{"address":"10.1.2.3/24","Address":"10.9.9.9/16"}],' +
          '"dns":{"Nameservers":["1.1.1.1"],"nameservers":["2.2.2.2"]}}',
        '{"cniVersion":"%V","ip4":{"IP":"10.4.4.4/8","ip":"10.1.2.3/24"},"DNS":{"domain":"a"},"dns":{"domain":"b"}}',
      ];
      const cases: Case[] = [];
      for (const from of ["", ...SPEC_VERSIONS, "0.5.0", "1.2.0", AUTO])
        for (const doc of docs)
          for (const to of ["", ...SPEC_VERSIONS]) {
            const raw = doc.replaceAll("%V", from);
            const g: Generated = { raw, routeExtras: [], ifaceExtras: [], headOnly: false };
            cases.push({ g, from, to, family: familyOf(from) ?? "100", own: from === AUTO ? undefined : from });
          }
      const answers = runGo(cases.map((c) => goRequest(c.g.raw, c.from, c.to)));
      const tally = newTally();
      cases.forEach((c, k) => compare(c, answers[k] ?? {}, ours(parseOurs(c.g.raw, c.from), c.to), tally));
      console.log(
        `  edge documents: ${tally.compared} conversions, ${tally.okEqual} equal outputs, ` +
          `${tally.errEqual} equal errors, exceptions ${JSON.stringify(tally.exceptions)}`,
      );
      expect(tally.mismatches.join("\n\n")).toBe("");
    },
  );

  it(
    "flags a printed difference, a wrong error text and a " + "misplaced newer field (the comparison is not vacuous)",
    () => {
      const g: Generated = {
        raw: '{"cniVersion":"1.1.0"}',
        routeExtras: [{ mtu: 1400 }],
        ifaceExtras: [],
        headOnly: true,
      };
      const c: Case = { g, from: "1.1.0", to: "0.4.0", family: "100", own: "1.1.0" };
      const tally = newTally();
      const printed =
        '{\n    "cniVersion": "0.4.0",\n    "routes": [\n        {\n' +
        '            "dst": "0.0.0.0/0"\n        }\n    ],\n    "dns": {}\n}';
      compare(
        c,
        { ok: printed },
        { ok: printed.replace('"0.0.0.0/0"', '"0.0.0.0/0",\n            "mtu": 1400') },
        tally,
      );
      compare(
        c,
        { ok: printed },
        {
          ok: printed.replace("0.0.0.0/0", "0.0.0.0/1").replace('"0.0.0.0/1"', '"0.0.0.0/1",\n            "mtu": 1400'),
        },
        tally,
      );
      compare(c, { ok: printed }, { ok: printed }, tally);
      compare(
        c,
        { err: "cannot convert: no valid IP addresses" },
        { err: new CniError(1, "cannot convert: no IP addresses") },
        tally,
      );
      compare(
        { ...c, to: "1.1.0" },
        { ok: '{\n    "cniVersion": "1.0.0"\n}', map: '{\n    "cniVersion": "1.0.0"\n}' },
        { ok: '{\n    "cniVersion": "1.1.0"\n}' },
        tally,
      );
      expect([tally.okEqual, tally.compared]).toEqual([2, 5]);
      expect(tally.mismatches.map((m) => m.split("\n")[0])).toEqual([
        '1.1.0 -> "0.4.0": printed differently',
        '1.1.0 -> "0.4.0": HEAD-only fields: printed [["[]"],[]], newer libcni prints [["[[\\"mtu\\",1400]]"],[]]',
        '1.1.0 -> "0.4.0": different error',
      ]);
    },
  );
});
