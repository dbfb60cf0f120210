// The desired data plane as lookup tables kept between full passes, so a pass diffs the kernel's
// entries against them without building per-pass maps or key strings: each kernel entry marks the
// slot it matches with the pass number, and what no entry marked (or marked as different) is
// written. Same decisions as diffState (daemon/testing/diff-state.ts; the unit test holds them equal).
import type { Desired, Diff } from "./plan.ts";
import type { KFdb, KNeigh, KRoute } from "./netops.ts";

interface Slot<T> {
  readonly item: T;
  /** the pass that last saw a kernel entry for this slot */
  seen: number;
  /** whether that (last) kernel entry equals the wanted one */
  same: boolean;
}

const sameRoute = (a: KRoute, b: KRoute): boolean =>
  a.dst === b.dst && a.gw === b.gw && a.ifindex === b.ifindex && Boolean(a.onlink) === Boolean(b.onlink);

function nestedGet<V>(m: Map<number, Map<string, V>>, a: number, b: string): V | undefined {
  return m.get(a)?.get(b);
}

function nestedSet<V>(m: Map<number, Map<string, V>>, a: number, b: string, v: V): void {
  let inner = m.get(a);
  if (!inner) {
    inner = new Map();
    m.set(a, inner);
  }
  inner.set(b, v);
}

function* slotsOf<V>(m: Map<number, Map<string, V>>): Iterable<V> {
  for (const inner of m.values()) yield* inner.values();
}

export class DesiredIndex {
  private pass = 0;
  /** by destination CIDR */
  private readonly routes = new Map<string, Slot<KRoute>>();
  /** by ifindex, then IP */
  private readonly neighs = new Map<number, Map<string, Slot<KNeigh>>>();
  /** by ifindex, then MAC; the (usually one) remote VTEPs of that MAC */
  private readonly fdb = new Map<number, Map<string, Slot<KFdb>[]>>();

  constructor(want: Desired) {
    for (const r of want.routes) this.routes.set(r.dst, { item: r, seen: 0, same: false });
    for (const n of want.neighs) nestedSet(this.neighs, n.ifindex, n.ip, { item: n, seen: 0, same: false });
    for (const f of want.fdb) {
      const list = nestedGet(this.fdb, f.ifindex, f.mac);
      const slot = { item: f, seen: 0, same: false };
      if (!list) nestedSet(this.fdb, f.ifindex, f.mac, [slot]);
      else if (!list.some((s) => s.item.dst === f.dst)) list.push(slot);
    }
  }

  get size(): number {
    return this.routes.size;
  }

  /**
   * What to write so the kernel matches: `managed` says which unwanted routes are ours to delete
   * (only asked for routes no peer wants).
   */
  diff(
    have: { readonly routes: readonly KRoute[]; readonly neighs: readonly KNeigh[]; readonly fdb: readonly KFdb[] },
    managed: (r: KRoute) => boolean,
  ): Diff {
    const pass = ++this.pass;
    const d: Diff = { routes: { put: [], del: [] }, neighs: { put: [], del: [] }, fdb: { put: [], del: [] } };
    for (const r of have.routes) {
      const s = this.routes.get(r.dst);
      if (s) {
        s.seen = pass;
        s.same = sameRoute(r, s.item);
      } else if (managed(r)) d.routes.del.push(r);
    }
    for (const s of this.routes.values()) if (s.seen !== pass || !s.same) d.routes.put.push(s.item);
    for (const n of have.neighs) {
      const s = nestedGet(this.neighs, n.ifindex, n.ip);
      if (s) {
        s.seen = pass;
        s.same = s.item.mac === n.mac;
      } else d.neighs.del.push(n);
    }
    for (const s of slotsOf(this.neighs)) if (s.seen !== pass || !s.same) d.neighs.put.push(s.item);
    for (const f of have.fdb) {
      const s = nestedGet(this.fdb, f.ifindex, f.mac)?.find((x) => x.item.dst === f.dst);
      if (s) s.seen = pass;
      else d.fdb.del.push(f);
    }
    for (const list of slotsOf(this.fdb)) for (const s of list) if (s.seen !== pass) d.fdb.put.push(s.item);
    return d;
  }
}
