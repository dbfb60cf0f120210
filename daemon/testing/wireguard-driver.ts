// Root-test driver for the wireguard backend on the system (run with bun inside a node's netns and
// a private mount namespace for /var/run/wireguard):
//   bun wireguard-driver.ts <json plan>
// plan: {dev, ip, own (IPv4 subnet), keyFile, backend?: {...Backend keys}, peers: [{subnet, ip, key, port?}]}
// Registers the backend (kernel WireGuard or wireguard-go), applies the peers, prints one JSON line
// {event: "ready", attrs, mtu, implementation}, then runs the periodic pass (every 300 ms). Each
// stdin line {"added"|"removed": peer} is applied and answered {event: "applied"}. SIGTERM stops it
// the way flanneld stops (devices removed); it prints {event: "stopped"} and exits 0.
import { createInterface } from "node:readline";
import { openNetlink } from "../../linux/netlink/open.ts";
import { openWireguardGenl } from "../../linux/wireguard/open.ts";
import { parseNetworkConfig } from "../config.ts";
import { parseCidr, type IpNet } from "../../net/prefix.ts";
import type { Lease, LeaseEvent } from "../lease.ts";
import { createLogger } from "../log.ts";
import { KernelNetOps } from "../backend/kernel-netops.ts";
import { KernelWgOps } from "../backend/kernel-wgops.ts";
import { wireguardBackend } from "../backend/wireguard-backend.ts";

interface PeerSpec {
  subnet: string;
  ip: string;
  key: string;
  port?: number;
}
interface Plan {
  dev: string;
  ip: string;
  own: string;
  keyFile: string;
  backend?: Record<string, unknown>;
  peers: PeerSpec[];
}

const plan = JSON.parse(process.argv[2] ?? "{}") as Plan;
const net = (s: string): IpNet => {
  const n = parseCidr(s);
  if (!n) throw new Error(`bad cidr ${s}`);
  return n;
};
const say = (o: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(o)}\n`);
const lease = (p: PeerSpec): Lease => ({
  subnet: net(p.subnet),
  attrs: { PublicIP: p.ip, BackendType: "wireguard", BackendData: { PublicKey: p.key, Port: p.port ?? 51820 } },
});

const log = createLogger({ verbosity: 1 });
const nl = openNetlink();
const wgops = new KernelWgOps(nl, new KernelNetOps(nl), () => openWireguardGenl(), log);
const backend = wireguardBackend(wgops, log, { reconcileMs: 300, keyFile: plan.keyFile });
const config = parseNetworkConfig(
  JSON.stringify({ Network: "10.244.0.0/16", Backend: { Type: "wireguard", ...plan.backend } }),
  "driver",
);
const under = nl.getLink(plan.dev);
const stop = new AbortController();
const nw = await backend.register({
  config,
  extIface: { name: plan.dev, index: under.index, mtu: under.mtu, ipv4: plan.ip, publicIP: plan.ip },
  acquire: async (attrs) => ({ subnet: net(plan.own), attrs }),
  log,
  signal: stop.signal,
});
await nw.handleEvents(plan.peers.map((p) => ({ type: "added", lease: lease(p) })));
const implementation = nl.getLink("flannel-wg").kind === "wireguard" ? "kernel" : "userspace";
say({ event: "ready", attrs: nw.lease.attrs, mtu: nw.mtu, implementation });

const running = nw.run(stop.signal);
process.once("SIGTERM", () => stop.abort());
const rl = createInterface({ input: process.stdin });
rl.on("line", (line) => {
  const cmd = JSON.parse(line) as { added?: PeerSpec; removed?: PeerSpec };
  const events: LeaseEvent[] = [];
  if (cmd.added) events.push({ type: "added", lease: lease(cmd.added) });
  if (cmd.removed) events.push({ type: "removed", lease: lease(cmd.removed) });
  void nw.handleEvents(events).then(() => say({ event: "applied" }));
});
await running;
rl.close();
say({ event: "stopped", linkLeft: nl.findLink("flannel-wg") !== undefined });
nl.close();
process.exit(0);
