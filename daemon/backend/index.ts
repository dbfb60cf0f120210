// The kernel data plane of flanneld: netlink vxlan / host-gw backends (RouteNetwork over
// KernelNetOps) and iptables / nftables rules (TrafficManager), behind daemon/network.ts's
// DataPlane. Imported lazily by the daemon: it pulls in linux/ (bun:ffi).
import { existsSync } from "node:fs";
import { openNetlink } from "../../linux/netlink/open.ts";
import type { BackendType, NetworkConfig } from "../config.ts";
import { selectInterface } from "../iface.ts";
import { formatCidr } from "../ip.ts";
import type { LeaseAttrs } from "../lease.ts";
import type { Logger } from "../log.ts";
import type { Backend, BackendNetwork, DataPlane, RegisterOptions, TrafficOptions, TrafficRules } from "../network.ts";
import { sleep } from "../time.ts";
import { TrafficManager } from "../rules/traffic.ts";
import { execaRunner } from "../../linux/command.ts";
import { KernelNetOps } from "./kernel-netops.ts";
import { RouteNetwork, type BackendLog } from "./route-network.ts";

/** How often the full reconcile runs (repairs, stale routes, device recreation). */
const RECONCILE_MS = Number(process.env["WEFT_RECONCILE_MS"] ?? 5000);

function backendLog(log: Logger): BackendLog {
  return (level, msg, fields) => log[level](msg, fields ?? {});
}

function previousMac(prev: LeaseAttrs | undefined): string | undefined {
  const d = prev?.BackendData;
  if (typeof d !== "object" || d === null) return undefined;
  const v = (d as Record<string, unknown>)["VtepMAC"];
  return typeof v === "string" && /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i.test(v) ? v.toLowerCase() : undefined;
}

function routeBackend(type: "vxlan" | "host-gw", ops: KernelNetOps, log: Logger): Backend {
  return {
    type,
    async register(o: RegisterOptions): Promise<BackendNetwork> {
      const cfg = o.config;
      if (!cfg.network) throw new Error(`the ${type} backend needs an IPv4 "Network" in the network config`);
      const ip = o.extIface.ipv4;
      if (!ip) throw new Error(`interface ${o.extIface.name} has no IPv4 address for the ${type} backend`);
      if (type === "host-gw" && o.extIface.publicIP && o.extIface.publicIP !== ip) {
        throw new Error(`host-gw needs the public IP (${o.extIface.publicIP}) to be the interface address (${ip}): peers route to it directly, so NAT is not supported; use vxlan`);
      }
      const mac = previousMac(o.previousAttrs);
      const rn = new RouteNetwork({
        dp: ops,
        kind: type,
        network: cfg.network,
        underlay: { index: o.extIface.index, ip, mtu: o.extIface.mtu },
        backendMtu: cfg.backend.mtu,
        vxlan: { vni: cfg.backend.vni, port: cfg.backend.port, gbp: cfg.backend.gbp, learning: cfg.backend.learning, directRouting: cfg.backend.directRouting, ...(mac ? { mac } : {}) },
        log: backendLog(log.with({ backend: type })),
      });
      const { backendData } = rn.prepare();
      const lease = await o.acquire({
        PublicIP: o.extIface.publicIP ?? ip,
        BackendType: type,
        ...(backendData !== undefined ? { BackendData: backendData } : {}),
      });
      const st = rn.start(lease);
      log.info("data plane ready", { backend: type, mtu: rn.mtu, stale_removed: st.changes, network: formatCidr(cfg.network) });
      return {
        lease,
        mtu: rn.mtu,
        async handleEvents(batch) {
          rn.handle(batch);
        },
        async run(signal) {
          rn.run(signal, RECONCILE_MS);
          while (!signal.aborted) await sleep(2 ** 31 - 1, signal);
        },
      };
    },
  };
}

function trafficRules(log: Logger): TrafficRules {
  let tm: TrafficManager | undefined;
  let resyncMs = 5000;
  return {
    async setup(o: TrafficOptions): Promise<void> {
      if (!o.config.network || !o.lease.subnet) return;
      resyncMs = Math.max(1, o.resyncSeconds) * 1000;
      const fam = { family: 4 as const, network: formatCidr(o.config.network), pod: formatCidr(o.lease.subnet) };
      tm = new TrafficManager(execaRunner, { mode: o.config.enableNFTables ? "nftables" : "iptables", families: [fam], masquerade: o.ipMasq, forward: o.forwardRules, fullyRandom: o.fullyRandom }, (msg, fields) => log.info(msg, fields as Record<string, string>));
      const prev = o.previous?.network && o.previous.subnet ? { family: 4 as const, network: o.previous.network, pod: o.previous.subnet } : undefined;
      await tm.init(prev);
      log.info("installed traffic rules", { mode: o.config.enableNFTables ? "nftables" : "iptables", masquerade: o.ipMasq, forward: o.forwardRules });
    },
    async run(signal: AbortSignal): Promise<void> {
      while (!signal.aborted) {
        await sleep(resyncMs, signal);
        if (signal.aborted || !tm) break;
        await tm.resync().catch((e: unknown) => log.warn("rule resync failed", { error: e instanceof Error ? e.message : String(e) }));
      }
    },
  };
}

export async function kernelDataPlane(log: Logger): Promise<DataPlane> {
  const nl = openNetlink();
  const ops = new KernelNetOps(nl);
  const backends: Partial<Record<BackendType, Backend>> = { vxlan: routeBackend("vxlan", ops, log), "host-gw": routeBackend("host-gw", ops, log) };
  return {
    description: "kernel (netlink)",
    async checkPrerequisites(config: NetworkConfig): Promise<void> {
      if (config.enableNFTables) return;
      if (!existsSync("/proc/sys/net/bridge/bridge-nf-call-iptables")) {
        log.warn("br_netfilter is not loaded: traffic between pods on one bridge bypasses iptables (Service VIPs to local pods may fail); fix with `modprobe br_netfilter`");
      }
    },
    async selectInterface(o) {
      return selectInterface(o);
    },
    backend: (t) => backends[t],
    traffic: trafficRules(log),
  };
}
