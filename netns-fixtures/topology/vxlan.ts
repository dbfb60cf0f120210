// A flannel-style vxlan data plane programmed with iproute2, independent of our daemon, so the
// conformance suite can test the CNI plugins across nodes on its own.
import { run } from "./sh.ts";
import type { NodeSpec } from "./topology.ts";

export interface OverlayNode extends NodeSpec {
  /** this node's pod subnet, e.g. 10.244.1.0/24 */
  readonly subnet: string;
}

function netAddr(cidr: string): string {
  return cidr.split("/")[0] ?? cidr;
}

/** Deterministic locally administered MAC per node index. */
function vtepMac(i: number): string {
  return `0e:2a:00:00:00:${(i + 1).toString(16).padStart(2, "0")}`;
}

/**
 * On every node: `flannel.<vni>` (learning off, port 8472, MTU underlay-50) holding subnet.0/32, and
 * for every peer a permanent neighbour, an FDB entry to its underlay IP and an onlink route.
 */
export async function programVxlanMesh(nodes: readonly OverlayNode[], vni = 1): Promise<void> {
  const dev = `flannel.${vni}`;
  for (const [i, n] of nodes.entries()) {
    await run("ip", [
      "-n",
      n.ns,
      "link",
      "add",
      dev,
      "type",
      "vxlan",
      "id",
      String(vni),
      "local",
      n.ip,
      "dev",
      n.dev,
      "dstport",
      "8472",
      "nolearning",
    ]);
    await run("ip", ["-n", n.ns, "link", "set", dev, "address", vtepMac(i), "mtu", "1450", "up"]);
    await run("ip", ["-n", n.ns, "addr", "add", `${netAddr(n.subnet)}/32`, "dev", dev]);
  }
  for (const [i, n] of nodes.entries()) {
    for (const [j, p] of nodes.entries()) {
      if (i === j) continue;
      const gw = netAddr(p.subnet);
      await run("ip", ["-n", n.ns, "neigh", "replace", gw, "lladdr", vtepMac(j), "dev", dev, "nud", "permanent"]);
      await run("bridge", ["-n", n.ns, "fdb", "append", vtepMac(j), "dev", dev, "dst", p.ip, "self", "permanent"]);
      await run("ip", ["-n", n.ns, "route", "replace", p.subnet, "via", gw, "dev", dev, "onlink"]);
    }
  }
}

/** flanneld's subnet.env for a node: gateway .1 of its subnet, vxlan MTU. */
export function subnetEnvFor(
  n: OverlayNode,
  network = "10.244.0.0/16",
  opts: { readonly mtu?: number; readonly ipMasq?: boolean } = {},
): string {
  const [addr, len] = n.subnet.split("/");
  const parts = (addr ?? "").split(".").map(Number);
  parts[3] = (parts[3] ?? 0) + 1;
  return [
    `FLANNEL_NETWORK=${network}`,
    `FLANNEL_SUBNET=${parts.join(".")}/${len}`,
    `FLANNEL_MTU=${opts.mtu ?? 1450}`,
    `FLANNEL_IPMASQ=${opts.ipMasq ?? true}`,
    "",
  ].join("\n");
}
