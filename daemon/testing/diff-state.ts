/**
 * The straightforward diff between wanted and actual kernel state, rebuilt from scratch on every
 * call: the oracle desired-index.test.ts checks the DesiredIndex (what RouteNetwork uses) against.
 */
import type { Desired, Diff } from "../backend/plan.ts";
import type { KFdb, KNeigh, KRoute } from "../backend/netops.ts";

const sameRoute = (a: KRoute, b: KRoute): boolean =>
  a.dst === b.dst && a.gw === b.gw && a.ifindex === b.ifindex && Boolean(a.onlink) === Boolean(b.onlink);

export function diffState(
  want: Desired,
  have: { readonly routes: KRoute[]; readonly neighs: KNeigh[]; readonly fdb: KFdb[] },
  managed: (r: KRoute) => boolean,
): Diff {
  const haveRoutes = new Map(have.routes.map((r) => [r.dst, r]));
  const wantRoutes = new Set(want.routes.map((r) => r.dst));
  const nk = (n: KNeigh) => `${n.ifindex}|${n.ip}`;
  const haveNeigh = new Map(have.neighs.map((n) => [nk(n), n]));
  const wantNeigh = new Set(want.neighs.map(nk));
  const fk = (f: KFdb) => `${f.ifindex}|${f.mac}|${f.dst}`;
  const haveFdb = new Set(have.fdb.map(fk));
  const wantFdb = new Set(want.fdb.map(fk));
  return {
    routes: {
      put: want.routes.filter((r) => {
        const h = haveRoutes.get(r.dst);
        return !h || !sameRoute(h, r);
      }),
      // membership first: `managed` parses the destination, and nearly every route is wanted
      del: have.routes.filter((r) => !wantRoutes.has(r.dst) && managed(r)),
    },
    neighs: {
      put: want.neighs.filter((n) => haveNeigh.get(nk(n))?.mac !== n.mac),
      del: have.neighs.filter((n) => !wantNeigh.has(nk(n))),
    },
    fdb: {
      put: want.fdb.filter((f) => !haveFdb.has(fk(f))),
      del: have.fdb.filter((f) => !wantFdb.has(fk(f))),
    },
  };
}
