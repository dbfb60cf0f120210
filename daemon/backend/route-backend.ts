// The vxlan, host-gw and ipip backends as daemon/dataplane.ts Backends: one RouteNetwork per enabled
// address family (IPv4 `flannel.<VNI>`, IPv6 `flannel-v6.<VNI>`; ipip: IPv4 `flannel.ipip` only),
// the lease attributes they publish, and the pod MTU. Kernel-free (any NetOps), so the unit tests
// drive it with FakeNetOps.
import type { NetworkConfig } from "../config.ts";
import type { ExternalInterface } from "../iface.ts";
import { formatCidr, type IpNet } from "../../net/prefix.ts";
import type { LeaseAttrs } from "../lease.ts";
import type { Logger } from "../log.ts";
import type { Backend, BackendNetwork, RegisterOptions } from "../dataplane.ts";
import { sleep } from "../time.ts";
import { underlayMtu } from "./mtu.ts";
import type { NetOps } from "./netops.ts";
import { RouteNetwork, type BackendLog } from "./route-network.ts";

/** Options of {@link routeBackend}. */
export interface RouteBackendOptions {
  /** How often each family's full reconcile runs. @default 5000 */
  readonly reconcileMs?: number;
}

/** One address family the backend programs: its cluster network and our underlay address in it. */
export interface FamilyPlan {
  readonly family: 4 | 6;
  readonly network: IpNet;
  /** the external interface's address of this family (the VTEP's local address, host-gw's next hop) */
  readonly ip: string;
  /** the address peers are told to use (PublicIP / PublicIPv6) */
  readonly publicIp: string;
}

function backendLog(log: Logger): BackendLog {
  return (level, msg, fields) => log[level](msg, fields ?? {});
}

/** The families to program, from EnableIPv4 / EnableIPv6; errors name the key or flag to fix. */
export function familyPlans(type: RouteBackendType, cfg: NetworkConfig, ext: ExternalInterface): FamilyPlan[] {
  if (type === "ipip" && cfg.enableIPv6) {
    throw new Error(
      'the ipip backend carries IPv4 only: set "EnableIPv6": false, or pick a backend with IPv6 (vxlan, host-gw)',
    );
  }
  const out: FamilyPlan[] = [];
  const one = (family: 4 | 6, network: IpNet | undefined, ip: string | undefined, pub: string | undefined) => {
    const key = family === 4 ? "Network" : "IPv6Network";
    if (!network)
      throw new Error(`the ${type} backend needs "${key}" in the network config when EnableIPv${family} is true`);
    if (!ip)
      throw new Error(
        `interface ${ext.name} has no IPv${family} address for the ` +
          `${type} backend: give an interface with one via --iface`,
      );
    if (type === "host-gw" && pub && pub !== ip) {
      const flag = family === 4 ? "--public-ip" : "--public-ipv6";
      throw new Error(
        `host-gw needs the public IPv${family} (${pub}, ${flag}) to be the interface ` +
          `address (${ip}): peers route to it directly, so NAT is not supported; use vxlan`,
      );
    }
    out.push({ family, network, ip, publicIp: pub ?? ip });
  };
  if (cfg.enableIPv4) one(4, cfg.network, ext.ipv4, ext.publicIP);
  if (cfg.enableIPv6) one(6, cfg.ipv6Network, ext.ipv6, ext.publicIPv6);
  if (out.length === 0)
    throw new Error("the network config enables neither IPv4 nor IPv6: set EnableIPv4 and/or EnableIPv6 to true");
  return out;
}

/** The VtepMAC this node published last time for a family (BackendData / BackendV6Data), to keep it. */
export function previousMac(prev: LeaseAttrs | undefined, family: 4 | 6): string | undefined {
  const d = family === 4 ? prev?.BackendData : prev?.BackendV6Data;
  if (typeof d !== "object" || d === null) return undefined;
  const v = (d as Record<string, unknown>)["VtepMAC"];
  return typeof v === "string" && /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i.test(v) ? v.toLowerCase() : undefined;
}

/**
 * The pod MTU (FLANNEL_MTU) over the families' overlay MTUs. A pod has one interface for both
 * families, so dual stack takes the smaller one (vxlan: IPv6 encapsulation costs 20 bytes more);
 * flanneld writes the IPv4 figure and IPv6 pods then depend on Packet Too Big from flannel-v6.
 */
export function podMtu(nets: readonly RouteNetwork[]): number {
  return Math.min(...nets.map((n) => n.mtu));
}

/** The backends built on {@link RouteNetwork}. */
export type RouteBackendType = "vxlan" | "host-gw" | "ipip";

/** The vxlan, host-gw or ipip backend over `ops`: devices before leasing, then a RouteNetwork per family. */
export function routeBackend(
  type: RouteBackendType,
  ops: NetOps,
  log: Logger,
  opts: RouteBackendOptions = {},
): Backend {
  return {
    type,
    async register(o: RegisterOptions): Promise<BackendNetwork> {
      const cfg = o.config;
      const plans = familyPlans(type, cfg, o.extIface);
      for (const p of plans) {
        if (p.family === 6 && /^fe[89ab]/i.test(p.publicIp)) {
          log.warn(
            "the IPv6 address peers will use is link-local (the interface has no global one): " +
              "only nodes on the same link can reach it; set --public-ipv6 or add a global address",
            { address: p.publicIp, iface: o.extIface.name },
          );
        }
      }
      // ipip takes the interface's MTU, as flannel (Backend.MTU is not read)
      const base = type === "ipip" ? { mtu: cfg.backend.mtu } : underlayMtu(cfg.backend.mtu, o.extIface);
      if (base.warning) log.warn(base.warning.msg, base.warning.fields);
      const nets = plans.map((p) => {
        const mac = previousMac(o.previousAttrs, p.family);
        return new RouteNetwork({
          dp: ops,
          kind: type,
          family: p.family,
          network: p.network,
          underlay: { index: o.extIface.index, ip: p.ip, mtu: o.extIface.mtu },
          backendMtu: base.mtu,
          vxlan: {
            vni: cfg.backend.vni,
            port: cfg.backend.port,
            gbp: cfg.backend.gbp,
            learning: cfg.backend.learning,
            directRouting: cfg.backend.directRouting,
            ...(mac ? { mac } : {}),
          },
          log: backendLog(log.with({ backend: type, family: p.family })),
        });
      });
      let attrs: LeaseAttrs = { PublicIP: "0.0.0.0", BackendType: type };
      for (const [i, rn] of nets.entries()) {
        const p = plans[i];
        if (!p) continue;
        const { backendData } = rn.prepare();
        if (p.family === 4)
          attrs = {
            ...attrs,
            PublicIP: p.publicIp,
            ...(backendData !== undefined ? { BackendData: backendData } : {}),
          };
        else
          attrs = {
            ...attrs,
            PublicIPv6: p.publicIp,
            ...(backendData !== undefined ? { BackendV6Data: backendData } : {}),
          };
      }
      const lease = await o.acquire(attrs);
      for (const [i, rn] of nets.entries()) {
        rn.start(lease);
        const p = plans[i];
        log.info("data plane ready", {
          backend: type,
          family: rn.family,
          device: type === "host-gw" ? o.extIface.name : rn.deviceName,
          mtu: rn.mtu,
          network: p ? formatCidr(p.network) : "",
        });
      }
      const mtu = podMtu(nets);
      return {
        lease,
        mtu,
        async handleEvents(batch) {
          for (const rn of nets) rn.handle(batch);
        },
        async run(signal) {
          for (const rn of nets) rn.run(signal, opts.reconcileMs ?? 5000);
          while (!signal.aborted) await sleep(2 ** 31 - 1, signal);
        },
        stats: () => ({
          peers: nets.map((rn) => ({ family: rn.family, count: rn.peerCount })),
          repairs: sumCounts(nets.map((rn) => rn.repairs)),
        }),
      };
    },
  };
}

/** Counts of several maps added up by key. */
export function sumCounts(maps: readonly ReadonlyMap<string, number>[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of maps) for (const [k, v] of m) out.set(k, (out.get(k) ?? 0) + v);
  return out;
}
