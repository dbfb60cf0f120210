import { describe, expect, it } from "vitest";
import { DesiredIndex } from "./desired-index.ts";
import type { KFdb, KNeigh, KRoute } from "./netops.ts";
import type { Desired, Diff } from "./plan.ts";
import { diffState } from "../testing/diff-state.ts";

/** A small deterministic PRNG (mulberry32), so a failure is reproducible from its seed. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

function world(seed: number): { want: Desired; have: { routes: KRoute[]; neighs: KNeigh[]; fdb: KFdb[] } } {
  const r = rng(seed);
  const pick = (n: number) => Math.floor(r() * n);
  const route = (): KRoute => ({
    dst: `10.244.${pick(12)}.0/24`,
    gw: `10.244.${pick(12)}.0`,
    ifindex: 5 + pick(2),
    ...(r() < 0.8 ? { onlink: true } : {}),
  });
  const neigh = (): KNeigh => ({ ifindex: 5 + pick(2), ip: `10.244.${pick(12)}.0`, mac: `0e:00:00:00:00:${pick(4)}` });
  const fdb = (): KFdb => ({ ifindex: 5 + pick(2), mac: `0e:00:00:00:00:${pick(6)}`, dst: `192.0.2.${pick(4)}` });
  const many = <T>(n: number, f: () => T): T[] => Array.from({ length: n }, f);
  // wanted entries have unique keys, as peers' subnets are unique
  const uniq = <T>(xs: T[], key: (x: T) => string): T[] => [...new Map(xs.map((x) => [key(x), x])).values()];
  return {
    want: {
      routes: uniq(many(pick(10), route), (x) => x.dst),
      neighs: uniq(many(pick(10), neigh), (x) => `${x.ifindex}|${x.ip}`),
      fdb: uniq(many(pick(10), fdb), (x) => `${x.ifindex}|${x.mac}|${x.dst}`),
    },
    have: { routes: many(pick(12), route), neighs: many(pick(12), neigh), fdb: many(pick(12), fdb) },
  };
}

const canon = (d: Diff): Record<string, string[]> => {
  const out: Record<string, string[]> = {};
  for (const [kind, v] of Object.entries(d)) {
    out[`${kind}.put`] = v.put.map((x: unknown) => JSON.stringify(x)).sort();
    out[`${kind}.del`] = v.del.map((x: unknown) => JSON.stringify(x)).sort();
  }
  return out;
};

describe("DesiredIndex", () => {
  it("decides the same writes and deletions as diffState over many random kernel states", () => {
    for (let seed = 1; seed <= 500; seed++) {
      const { want, have } = world(seed);
      const managed = (r: KRoute) => r.ifindex === 5;
      expect(canon(new DesiredIndex(want).diff(have, managed)), `seed ${seed}`).toEqual(
        canon(diffState(want, have, managed)),
      );
    }
  });

  it("gives the same answer on a second pass over the same index", () => {
    const { want, have } = world(42);
    const index = new DesiredIndex(want);
    const first = canon(index.diff(have, () => true));
    expect(canon(index.diff(have, () => true))).toEqual(first);
    // and a pass that sees everything in place writes nothing
    expect(canon(index.diff({ routes: want.routes, neighs: want.neighs, fdb: want.fdb }, () => true))).toEqual(
      canon(diffState(want, want, () => true)),
    );
  });

  it("rewrites a route whose last kernel entry differs, even when an earlier one matched", () => {
    const want: Desired = {
      routes: [{ dst: "10.244.1.0/24", gw: "10.244.1.0", ifindex: 5, onlink: true }],
      neighs: [],
      fdb: [],
    };
    const have = {
      routes: [want.routes[0] as KRoute, { dst: "10.244.1.0/24", gw: "192.0.2.9", ifindex: 2 }],
      neighs: [],
      fdb: [],
    };
    expect(new DesiredIndex(want).diff(have, () => true).routes.put).toEqual(want.routes);
  });
});
