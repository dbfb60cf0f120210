/**
 * The node's links: the pod bridge (cni0) holds this node's gateway and nothing from another subnet,
 * and the backend device's MTU fits both FLANNEL_MTU and the underlay NIC.
 */
import type { Address } from "../../../linux/netlink/addr.ts";
import type { Link } from "../../../linux/netlink/link.ts";
import { containsIp, formatIp, parseIp, type IpNet } from "../../../net/prefix.ts";
import { fail, ok, skip, warn, type CheckResult } from "../check.ts";
import type { DoctorContext } from "../context.ts";
import { cniChoice, envSubnets, type NodeFacts } from "../facts.ts";

const BRIDGE = "bridge";
const MTU = "mtu";

/** The bridge the flannel delegate uses: `delegate.bridge` of the flannel conflist, else cni0. */
export function bridgeName(f: NodeFacts): string {
  const delegate = cniChoice(f).flannel?.flannel?.["delegate"];
  const name =
    typeof delegate === "object" && delegate !== null ? (delegate as Record<string, unknown>)["bridge"] : undefined;
  return typeof name === "string" && name !== "" ? name : "cni0";
}

function addrsOf(f: NodeFacts, link: Link): Address[] {
  return f.addrs.filter((a) => a.index === link.index && a.scope === 0);
}

export function bridgeCheck(_ctx: DoctorContext, f: NodeFacts): CheckResult {
  const name = bridgeName(f);
  const title = `bridge ${name}`;
  const link = f.links.find((l) => l.name === name);
  const mine = envSubnets(f.subnetEnv);
  const nets = [mine.subnet, mine.subnetV6].filter((n): n is IpNet => n !== undefined);
  if (!link) return ok(BRIDGE, title, `not created yet (the first pod ADD creates it)`);
  if (link.kind !== "bridge")
    return fail(BRIDGE, title, `${name} is a ${link.kind || "non-bridge"} link`, `delete it: ip link delete ${name}`);
  if (nets.length === 0) return skip(BRIDGE, title, "no subnet.env to compare with");
  const addrs = addrsOf(f, link);
  const gateways = nets.map((n) => `${formatIp(n.family, n.ip + 1n)}/${n.prefix}`);
  const stale = addrs.filter((a) => {
    const p = parseIp(a.ip);
    return p !== undefined && !nets.some((n) => n.family === p.family && containsIp(n, p.family, p.ip));
  });
  const text = (a: Address) => `${a.ip}/${a.prefixLen}`;
  if (stale.length > 0) {
    return fail(
      BRIDGE,
      title,
      `${name} holds ${stale.map(text).join(", ")}, outside this node's subnet ${gateways.join(", ")} ` +
        "(left by an earlier lease: reset node, changed podCIDR)",
      `drain the node, then \`ip link delete ${name}\`; the next pod ADD creates it again with ` +
        `${gateways.join(", ")}; pods still on the old subnet must be recreated`,
    );
  }
  const missing = gateways.filter((g) => !addrs.some((a) => text(a) === g));
  if (missing.length > 0 && addrs.length > 0)
    return warn(
      BRIDGE,
      title,
      `${name} lacks ${missing.join(", ")}`,
      "the next pod ADD adds it; nothing to do unless ADDs fail",
    );
  const subnets = nets.map((n) => `${formatIp(n.family, n.ip)}/${n.prefix}`).join(", ");
  return ok(BRIDGE, title, `${addrs.map(text).join(", ") || "no address yet"}: the gateway of ${subnets}`);
}

/** The device that carries the backend's encapsulated traffic for a family; none for host-gw, alloc, extension. */
export function overlayDevice(f: NodeFacts, family: 4 | 6): string | undefined {
  const c = f.config;
  if (!c) return undefined;
  switch (c.backend.type) {
    case "vxlan":
      return family === 4 ? `flannel.${c.backend.vni}` : `flannel-v6.${c.backend.vni}`;
    case "ipip":
      return family === 4 ? "flannel.ipip" : undefined;
    case "wireguard":
      return family === 4 || c.backend.raw["Mode"] !== undefined ? "flannel-wg" : "flannel-wg-v6";
    case "udp":
      return family === 4 ? "flannel0" : undefined;
    default:
      return undefined;
  }
}

/** vxlan / ipip / wireguard / udp device names of the config, with the encapsulation overhead of each. */
function devices(f: NodeFacts): { name: string; overhead: number; family: 4 | 6 }[] {
  const c = f.config;
  if (!c) return [];
  const t = c.backend.type;
  if (t === "vxlan") {
    const out: { name: string; overhead: number; family: 4 | 6 }[] = [];
    if (c.enableIPv4) out.push({ name: `flannel.${c.backend.vni}`, overhead: 50, family: 4 });
    if (c.enableIPv6) out.push({ name: `flannel-v6.${c.backend.vni}`, overhead: 70, family: 6 });
    return out;
  }
  if (t === "ipip") return [{ name: "flannel.ipip", overhead: 20, family: 4 }];
  if (t === "wireguard") return [{ name: "flannel-wg", overhead: 80, family: 4 }];
  if (t === "udp") return [{ name: "flannel0", overhead: 28, family: 4 }];
  return [];
}

/** The underlay NIC: the vxlan device's link, else the interface holding the lease's public address. */
function underlay(f: NodeFacts, dev: Link | undefined): Link | undefined {
  const byIndex = dev?.vxlan?.underlayIndex ?? dev?.ipip?.underlayIndex;
  if (byIndex !== undefined) return f.links.find((l) => l.index === byIndex);
  const local = dev?.vxlan?.local ?? dev?.ipip?.local ?? f.own?.attrs.PublicIP;
  const a = local ? f.addrs.find((x) => x.ip === local) : undefined;
  return a ? f.links.find((l) => l.index === a.index) : undefined;
}

export function mtuCheck(_ctx: DoctorContext, f: NodeFacts): CheckResult {
  const title = "MTU";
  const env = f.subnetEnv;
  if (!env || !f.config) return skip(MTU, title, "needs subnet.env and the network config");
  const wanted = f.config.backend.mtu;
  const devs = devices(f);
  const tooBig =
    "remove Backend.MTU from net-conf.json (flanneld then uses the NIC's MTU) or set it to at most the NIC's MTU, " +
    "restart flanneld and recreate the pods";
  if (devs.length === 0) {
    const nic = underlay(f, undefined);
    if (nic && env.mtu > nic.mtu)
      return fail(MTU, title, `FLANNEL_MTU=${env.mtu} is over ${nic.name}'s MTU ${nic.mtu}`, tooBig);
    return ok(MTU, title, `FLANNEL_MTU=${env.mtu}${nic ? `, ${nic.name} ${nic.mtu}` : ""} (${f.config.backend.type})`);
  }
  const parts: string[] = [];
  for (const d of devs) {
    const link = f.links.find((l) => l.name === d.name);
    if (!link)
      return fail(
        MTU,
        title,
        `${d.name} does not exist`,
        "flanneld creates it at start and puts it back within a reconcile pass (10 s): " +
          "is flanneld running? read its log",
      );
    const nic = underlay(f, link);
    if (nic && link.mtu + d.overhead > nic.mtu)
      return fail(
        MTU,
        title,
        `${d.name} MTU ${link.mtu} + ${d.overhead} bytes of encapsulation is over ${nic.name}'s MTU ${nic.mtu}: ` +
          "full-size packets between nodes are dropped",
        tooBig,
      );
    if (env.mtu > link.mtu)
      return fail(
        MTU,
        title,
        `FLANNEL_MTU=${env.mtu} is over ${d.name}'s MTU ${link.mtu}` +
          (wanted > 0 ? ` (Backend.MTU ${wanted}; the kernel keeps the device within its limits)` : "") +
          ": pods send packets the device cannot take",
        tooBig,
      );
    parts.push(`${d.name} ${link.mtu}${nic ? ` over ${nic.name} ${nic.mtu}` : ""}`);
  }
  return ok(MTU, title, `FLANNEL_MTU=${env.mtu}; ${parts.join("; ")}`);
}
