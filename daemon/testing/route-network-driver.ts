// Root-test driver (run with bun, inside nothing: it opens netlink in the netns given):
//   bun route-network-driver.ts <netns path> <json plan>
// plan: {kind, family?, underlay, underlayIp, own, peers: [{subnet, ip, mac?}],
//        after?: "delete-route" | "delete-device"}
// family 6: subnets are IPv6 (subnetV6), ip is PublicIPv6, mac goes to BackendV6Data, network fd00:10:244::/56.
// Prints {mtu, vtep, firstVtep, writes, second, warnings}: vtep MAC at the end and after prepare(), writes of
// the first batch, second reconcile stats, the warnings RouteNetwork logged.
import { openNetlink } from "../../linux/netlink/open.ts";
import { parseCidr, type IpNet } from "../../net/prefix.ts";
import type { Lease } from "../lease.ts";
import { KernelNetOps } from "../backend/kernel-netops.ts";
import { RouteNetwork } from "../backend/route-network.ts";

interface Plan {
  kind: "vxlan" | "host-gw" | "ipip";
  family?: 4 | 6;
  underlay: string;
  underlayIp: string;
  own: string;
  peers: { subnet: string; ip: string; mac?: string }[];
  directRouting?: boolean;
  /** Backend.MTU handed to RouteNetwork as is (route-backend.ts would clamp it first) */
  backendMtu?: number;
  after?: "delete-route" | "delete-device";
}

const [nsPath, planText] = process.argv.slice(2);
const plan = JSON.parse(planText ?? "{}") as Plan;
const net = (s: string): IpNet => {
  const n = parseCidr(s);
  if (!n) throw new Error(`bad cidr ${s}`);
  return n;
};
const family = plan.family ?? 4;
const warnings: string[] = [];
const nl = openNetlink({ netns: nsPath ?? "" });
const dp = new KernelNetOps(nl);
const under = nl.getLink(plan.underlay);
const rn = new RouteNetwork({
  dp,
  kind: plan.kind,
  family,
  network: net(family === 4 ? "10.244.0.0/16" : "fd00:10:244::/56"),
  underlay: { index: under.index, ip: plan.underlayIp, mtu: under.mtu },
  vxlan: { vni: 1, port: 0, gbp: false, learning: false, directRouting: plan.directRouting ?? false },
  ...(plan.backendMtu !== undefined ? { backendMtu: plan.backendMtu } : {}),
  log: (level, msg) => void (level === "warn" && warnings.push(msg)),
});
const prep = rn.prepare();
const firstVtep = rn.vtep;
const lease = (subnet: string, ip: string, data?: unknown): Lease =>
  family === 4
    ? { subnet: net(subnet), attrs: { PublicIP: ip, BackendType: plan.kind, ...(data ? { BackendData: data } : {}) } }
    : {
        subnetV6: net(subnet),
        attrs: {
          PublicIP: "0.0.0.0",
          PublicIPv6: ip,
          BackendType: plan.kind,
          ...(data ? { BackendV6Data: data } : {}),
        },
      };
rn.start(lease(plan.own, plan.underlayIp, prep.backendData));
rn.handle(
  plan.peers.map((p) => ({
    type: "added" as const,
    lease: lease(p.subnet, p.ip, p.mac ? { VNI: 1, VtepMAC: p.mac } : undefined),
  })),
);
const writes = rn.flush();
let second = { changes: 0, peers: 0, replayed: false };
if (plan.after === "delete-route") {
  const r = dp.listRoutes(family).find((x) => x.dst === plan.peers[0]?.subnet);
  if (r) dp.deleteRoute(r);
  second = rn.reconcile();
} else if (plan.after === "delete-device") {
  nl.deleteLink(rn.deviceName);
  second = rn.reconcile();
}
process.stdout.write(JSON.stringify({ mtu: rn.mtu, vtep: rn.vtep, firstVtep, writes, second, warnings }));
nl.close();
