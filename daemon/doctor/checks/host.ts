/**
 * Kernel switches pod traffic depends on: forwarding, reverse-path filtering on the interfaces pod
 * traffic arrives on, and br_netfilter (bridged pod traffic through iptables, which kube-proxy needs).
 */
import { formatIp, type IpNet } from "../../../net/prefix.ts";
import { errorMessage } from "../../log.ts";
import { fail, ok, skip, type CheckResult } from "../check.ts";
import type { DoctorContext } from "../context.ts";
import { envSubnets, type NodeFacts } from "../facts.ts";
import { bridgeName, overlayDevice } from "./links.ts";

function get(ctx: DoctorContext, key: string): string | undefined {
  try {
    return ctx.sysctl.get(key);
  } catch {
    return undefined;
  }
}

export function ipForwardCheck(ctx: DoctorContext, f: NodeFacts): CheckResult {
  const title = "ip_forward";
  const keys: string[] = [];
  if (f.config?.enableIPv4 ?? true) keys.push("net.ipv4.ip_forward");
  if (f.config?.enableIPv6) keys.push("net.ipv6.conf.all.forwarding");
  const off = keys.filter((k) => get(ctx, k) !== "1");
  if (off.length > 0)
    return fail(
      "ip-forward",
      title,
      `${off.map((k) => `${k}=${get(ctx, k) ?? "unreadable"}`).join(", ")}: this node does not route pod traffic`,
      `${off.map((k) => `sysctl -w ${k}=1`).join("; ")}; make it last with a file in /etc/sysctl.d/ ` +
        `(e.g. ${off.map((k) => `${k} = 1`).join(", ")})`,
    );
  return ok("ip-forward", title, keys.map((k) => `${k}=1`).join(", "));
}

/** The effective rp_filter of an interface: the larger of `all` and its own (the kernel's rule). */
function rpFilter(ctx: DoctorContext, iface: string): number | undefined {
  const all = get(ctx, "net/ipv4/conf/all/rp_filter");
  const own = get(ctx, `net/ipv4/conf/${iface}/rp_filter`);
  if (all === undefined || own === undefined) return undefined;
  return Math.max(Number(all), Number(own));
}

/**
 * Strict reverse-path filtering (1) drops a packet when the route back to its source leaves by
 * another interface. For every peer subnet (arriving on the backend device, or the NIC for host-gw)
 * and the node's own pod subnet (arriving on the bridge) the route back is looked up.
 */
export function rpFilterCheck(ctx: DoctorContext, f: NodeFacts): CheckResult {
  const title = "rp_filter";
  const own = envSubnets(f.subnetEnv).subnet;
  const c = f.config;
  if (!own || !c?.enableIPv4) return skip("rp-filter", title, "IPv4 only; needs subnet.env");
  const name = (i: number | undefined) => f.links.find((l) => l.index === i)?.name ?? `index ${i}`;
  const device = overlayDevice(f, 4);
  const sources: { iface: string; net: IpNet }[] = [];
  const bridge = bridgeName(f);
  if (f.links.some((l) => l.name === bridge)) sources.push({ iface: bridge, net: own });
  for (const l of f.leases ?? []) {
    if (!l.subnet || l === f.own) continue;
    if (own && l.subnet.ip === own.ip) continue;
    // Where the peer's pod traffic comes in: the overlay device, or the NIC for host-gw and for a
    // DirectRouting peer on our link (no gateway between us: it sends to us directly too).
    let iface = device;
    if (!iface || c.backend.directRouting) {
      try {
        const r = ctx.nl.getRouteTo(l.attrs.PublicIP);
        if (!iface || r.gateway === undefined) iface = name(r.oif);
      } catch {
        continue;
      }
    }
    if (iface) sources.push({ iface, net: l.subnet });
  }
  const strict: string[] = [];
  const broken: string[] = [];
  for (const s of sources) {
    const v = rpFilter(ctx, s.iface);
    if (v !== 1) continue;
    strict.push(s.iface);
    const probe = formatIp(4, s.net.ip + 1n);
    let back: string;
    try {
      back = name(ctx.nl.getRouteTo(probe).oif);
    } catch (e) {
      back = `no route (${errorMessage(e)})`;
    }
    if (back !== s.iface)
      broken.push(
        `packets from ${formatIp(4, s.net.ip)}/${s.net.prefix} arrive on ${s.iface} but the route back is via ${back}`,
      );
  }
  if (broken.length > 0)
    return fail(
      "rp-filter",
      title,
      `strict rp_filter drops pod traffic: ${broken.join("; ")}`,
      "use loose mode: sysctl -w net.ipv4.conf.all.rp_filter=2 (and for the interfaces named), " +
        "persisted in /etc/sysctl.d/",
    );
  const uniq = [...new Set(strict)];
  const all = [...new Set(sources.map((s) => s.iface))];
  return ok(
    "rp-filter",
    title,
    uniq.length > 0
      ? `strict on ${uniq.join(", ")}, but every route back leaves by the interface the traffic arrives on`
      : `loose or off on the ${all.length > 0 ? all.join(", ") : "pod"} interfaces`,
  );
}

export function brNetfilterCheck(ctx: DoctorContext, _f: NodeFacts): CheckResult {
  const title = "br_netfilter";
  const v = get(ctx, "net.bridge.bridge-nf-call-iptables");
  if (v === undefined)
    return fail(
      "br-netfilter",
      title,
      "the br_netfilter module is not loaded: traffic between pods on one bridge skips iptables, so kube-proxy's " +
        "Service rules miss it (a pod reaching a Service backed by a pod on the same node fails)",
      "modprobe br_netfilter; echo br_netfilter > /etc/modules-load.d/br_netfilter.conf",
    );
  if (v !== "1")
    return fail(
      "br-netfilter",
      title,
      `net.bridge.bridge-nf-call-iptables=${v}: bridged pod traffic skips iptables (Services to same-node pods fail)`,
      "sysctl -w net.bridge.bridge-nf-call-iptables=1, persisted in /etc/sysctl.d/",
    );
  const v6 = get(ctx, "net.bridge.bridge-nf-call-ip6tables");
  return ok("br-netfilter", title, `loaded, bridge-nf-call-iptables=1${v6 !== undefined ? `, ip6tables=${v6}` : ""}`);
}
