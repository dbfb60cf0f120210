// Root-test driver: the udp backend's kernel side (KernelUdp: flannel0, socket, forwarder worker)
// in the netns it runs in (start it with `ip netns exec`), driven by JSON lines on stdin:
//   bun udp-driver.ts '<spec json>'      spec: UdpDeviceSpec + {routes?: [subnet, publicIp][]}
//   stdin:  {"routes": [["10.244.2.0/24", "192.0.2.2"], ...]} | {"stats": true} | {"stop": true}
//   stdout: {"ready": {name, index, offloads}}, then a line per command:
//           {"routes": n} | {"stats": {...}} | {"stopped": true}; {"error": "..."} if the forwarder fails
import { createInterface } from "node:readline";
import { openNetlink } from "../../linux/netlink/open.ts";
import { KernelUdp } from "../backend/udp/kernel-udp.ts";
import { ipv4ToU32, parseIpv4Net, type PeerRoute } from "../backend/udp/table.ts";
import type { UdpDeviceSpec } from "../backend/udp/udp-backend.ts";

function routes(list: readonly (readonly [string, string])[]): PeerRoute[] {
  return list.map(([subnet, ip]) => {
    const n = parseIpv4Net(subnet);
    const a = ipv4ToU32(ip);
    if (!n || a === undefined) throw new Error(`bad route ${subnet} ${ip}`);
    return { net: n.net, prefix: n.prefix, ip: a };
  });
}

const spec = JSON.parse(process.argv[2] ?? "{}") as UdpDeviceSpec & { routes?: [string, string][] };
const nl = openNetlink();
const dp = await new KernelUdp(nl).start(spec, routes(spec.routes ?? []));
const out = (o: unknown) => process.stdout.write(`${JSON.stringify(o)}\n`);
out({ ready: { name: dp.name, index: dp.index, offloads: dp.offloads } });
dp.done.catch((e: unknown) => {
  out({ error: e instanceof Error ? e.message : String(e) });
  process.exit(1);
});
for await (const line of createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  const cmd = JSON.parse(line) as { routes?: [string, string][]; stats?: boolean; stop?: boolean };
  if (cmd.routes) {
    await dp.setRoutes(routes(cmd.routes));
    out({ routes: cmd.routes.length });
  } else if (cmd.stats) {
    out({ stats: await dp.stats() });
  } else if (cmd.stop) {
    await dp.stop();
    out({ stopped: true });
    break;
  }
}
nl.close();
process.exit(0);
