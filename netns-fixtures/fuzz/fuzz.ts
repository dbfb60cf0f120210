/**
 * What the seeded differential fuzz tests share (host-local, bridge, result conversion): a small
 * deterministic PRNG, the WEFT_FUZZ_* settings, and the table of error codes that differ from the
 * reference on purpose. Pure: safe in unit tests under Node.
 */
import { isObject } from "../../libcni/validate/fields.ts";

/** mulberry32: small, fast, and the same stream for the same seed on Node and Bun. */
export class Rng {
  #state: number;
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** An integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    const item = items[this.int(0, items.length - 1)];
    if (item === undefined) throw new Error("pick from an empty list");
    return item;
  }
  /** One of `items`, each as likely as its weight. */
  weighted<T>(items: readonly (readonly [T, number])[]): T {
    let x = this.next() * items.reduce((s, [, w]) => s + w, 0);
    for (const [item, w] of items) if ((x -= w) < 0) return item;
    return (items[items.length - 1] as readonly [T, number])[0];
  }
}

export interface FuzzSettings {
  readonly seed: number;
  /** How many scenarios. */
  readonly count: number;
  /** WEFT_FUZZ_ONLY: replay this one scenario. */
  readonly only: string | undefined;
  /** The default seed and count: every listed difference must then be needed. */
  readonly isDefault: boolean;
}

/** WEFT_FUZZ_SEED, WEFT_FUZZ_SCENARIOS and WEFT_FUZZ_ONLY over a test's defaults. */
export function fuzzSettings(
  defaultSeed: number,
  defaultCount: number,
  env: NodeJS.ProcessEnv = process.env,
): FuzzSettings {
  const seed = Number(env["WEFT_FUZZ_SEED"] ?? defaultSeed) >>> 0;
  const count = Number(env["WEFT_FUZZ_SCENARIOS"] ?? defaultCount);
  return { seed, count, only: env["WEFT_FUZZ_ONLY"], isDefault: seed === defaultSeed && count === defaultCount };
}

/**
 * An error whose code differs from the reference's on purpose (the reference plugins return 999
 * for their own errors). `msg` says whether the message is the reference's text ("same") or
 * deliberately ours (then it must match ours).
 */
export interface CodeDifference {
  readonly ref: RegExp;
  readonly refCode: number;
  readonly ourCode: number;
  readonly msg: "same" | RegExp;
  readonly reason: string;
}

export const codeDifferenceKey = (d: CodeDifference): string => `code ${d.refCode}->${d.ourCode}: ${d.ref.source}`;

export interface ErrorFields {
  readonly code: unknown;
  readonly msg: unknown;
}

/** The code and msg of a plugin's output; the raw stdout as msg when it printed no JSON object. */
export function errorOf(o: { readonly json: unknown; readonly stdout: string }): ErrorFields {
  return isObject(o.json) ? { code: o.json["code"], msg: o.json["msg"] } : { code: undefined, msg: o.stdout };
}

/**
 * undefined when our error equals the reference's or an entry of `table` explains the difference
 * (its key is pushed to `used`); otherwise what differs.
 */
export function compareErrors(
  table: readonly CodeDifference[],
  o: ErrorFields,
  r: ErrorFields,
  used: string[],
): string | undefined {
  if (o.code === r.code && o.msg === r.msg) return undefined;
  const rule = table.find(
    (d) =>
      typeof r.msg === "string" &&
      d.ref.test(r.msg) &&
      d.refCode === r.code &&
      d.ourCode === o.code &&
      (d.msg === "same" ? o.msg === r.msg : typeof o.msg === "string" && d.msg.test(o.msg)),
  );
  if (rule === undefined) return `errors differ: ours ${JSON.stringify(o)}, reference ${JSON.stringify(r)}`;
  used.push(codeDifferenceKey(rule));
  return undefined;
}

/** The keys of every listed difference, as compareErrors and the behaviour checks record them. */
export function listedDifferences(
  codes: readonly CodeDifference[],
  behaviour: Readonly<Record<string, string>>,
): string[] {
  return [...codes.map(codeDifferenceKey), ...Object.keys(behaviour)];
}
