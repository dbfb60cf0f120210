// Two nodes on a 192.0.2.0/24 underlay with a flannel-style vxlan data plane programmed by the
// fixtures, pods added through a cnitool on each node: TCP pod->pod within and across nodes, MTU,
// routes, hairpin, and the reference portmap chained after the network plugin.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CniScratch, cnitool, snapshotFiles, type CniRuntimeSpec } from "../netns-fixtures/topology/cni.ts";
import { GO_CNITOOL, REFERENCE_PLUGIN_DIR, requireBuilt } from "../netns-fixtures/oracles/reference.ts";
import { ipJson, run } from "../netns-fixtures/topology/sh.ts";
import { EchoServer, tcpProbe } from "../netns-fixtures/topology/tcp.ts";
import { Topology, sweepStale } from "../netns-fixtures/topology/topology.ts";
import { programVxlanMesh, subnetEnvFor, type OverlayNode } from "../netns-fixtures/topology/vxlan.ts";
import { implsUnderTest } from "./impls.ts";

interface Variant {
  readonly label: string;
  readonly rt: CniRuntimeSpec;
  readonly env?: Record<string, string>;
  /** the conflist's first plugin for a node */
  readonly plugin: (n: OverlayNode, s: CniScratch) => Record<string, unknown>;
}

const flannelPlugin = (n: OverlayNode, s: CniScratch) => {
  writeFileSync(join(s.root, "subnet.env"), subnetEnvFor(n));
  return {
    type: "flannel",
    subnetFile: join(s.root, "subnet.env"),
    dataDir: join(s.root, "flannel"),
    ipam: { dataDir: s.dataDir },
    delegate: { hairpinMode: true, isDefaultGateway: true },
  };
};

/** What the flannel plugin would hand to bridge, written out, for the reference (which has no flannel). */
const bridgePlugin = (n: OverlayNode, s: CniScratch) => ({
  type: "bridge",
  bridge: "cni0",
  isGateway: true,
  isDefaultGateway: true,
  hairpinMode: true,
  ipMasq: false,
  mtu: 1450,
  ipam: {
    type: "host-local",
    ranges: [[{ subnet: n.subnet }]],
    routes: [{ dst: "10.244.0.0/16" }],
    dataDir: s.dataDir,
  },
});

function variants(): Variant[] {
  const out: Variant[] = [];
  for (const impl of implsUnderTest()) {
    if (impl.isOurs) {
      out.push({
        label: "weft flannel -> bridge -> host-local, our cnitool",
        rt: { cnitool: join(impl.pluginDir, "cnitool"), pluginPath: [impl.pluginDir, REFERENCE_PLUGIN_DIR] },
        plugin: flannelPlugin,
      });
      out.push({
        label: "weft plugins under the reference runtime (Go libcni cnitool)",
        rt: { cnitool: GO_CNITOOL, pluginPath: [impl.pluginDir, REFERENCE_PLUGIN_DIR] },
        plugin: flannelPlugin,
      });
      out.push({
        label: "weft flannel exec'ing the reference bridge + host-local (first on CNI_PATH)",
        rt: { cnitool: join(impl.pluginDir, "cnitool"), pluginPath: [REFERENCE_PLUGIN_DIR, impl.pluginDir] },
        plugin: flannelPlugin,
      });
    } else {
      out.push({
        label: `reference bridge + host-local (${impl.label}), Go libcni`,
        rt: { cnitool: GO_CNITOOL, pluginPath: [impl.pluginDir] },
        plugin: bridgePlugin,
      });
    }
  }
  return out;
}

describe.each(variants())("two-node cluster: $label", (variant) => {
  const topo = new Topology();
  const scratches: CniScratch[] = [];
  let nodes: OverlayNode[] = [];
  const pods: { node: OverlayNode; ns: string; ip: string }[] = [];
  const servers: EchoServer[] = [];

  beforeAll(async () => {
    await sweepStale();
    requireBuilt();
    requireBuilt(GO_CNITOOL);
    const under = await topo.underlay(2);
    nodes = under.map((u, i) => ({ ...u, subnet: `10.244.${i + 1}.0/24` }));
    await programVxlanMesh(nodes);
    for (const n of nodes) {
      const s = new CniScratch(topo.prefix);
      scratches.push(s);
      s.writeConf("10-flannel.conflist", {
        name: "cbr0",
        cniVersion: "0.3.1",
        plugins: [variant.plugin(n, s), { type: "portmap", capabilities: { portMappings: true } }],
      });
      for (const letter of ["a", "b"]) {
        const ns = await topo.netns(`${n.ns.slice(-2)}${letter}`);
        const r = await cnitool(variant.rt, s, {
          node: n.ns,
          cmd: "add",
          net: "cbr0",
          netnsPath: `/run/netns/${ns}`,
          env: {
            ...variant.env,
            CAP_ARGS: JSON.stringify({
              portMappings: letter === "a" ? [{ hostPort: 8080, containerPort: 7777, protocol: "tcp" }] : [],
            }),
          },
        });
        if (r.exitCode !== 0) throw new Error(`cnitool add in ${n.ns} failed: ${r.stderr || r.stdout}`);
        const res = JSON.parse(r.stdout) as { ips: { address: string }[] };
        const ip = (res.ips[0]?.address ?? "").split("/")[0] ?? "";
        pods.push({ node: n, ns, ip });
      }
    }
    for (const p of pods) servers.push(await EchoServer.start(p.ns, p.ip));
  }, 120_000);

  afterAll(async () => {
    for (const s of servers) s.stop();
    for (const s of scratches) s.dispose();
    await topo.cleanup();
  }, 120_000);

  it("gives every pod a distinct address inside its node's subnet", () => {
    expect(pods).toHaveLength(4);
    expect(new Set(pods.map((p) => p.ip)).size).toBe(4);
    for (const p of pods) expect(p.ip.startsWith(p.node.subnet.slice(0, p.node.subnet.lastIndexOf(".")))).toBe(true);
  });

  it("every pod reaches every other pod over TCP, within and across nodes", async () => {
    const matrix: string[] = [];
    for (const a of pods)
      for (const b of pods) if (a !== b) matrix.push(`${a.ip}->${b.ip}: ${await tcpProbe(a.ns, b.ip)}`);
    expect(matrix.filter((m) => !m.endsWith(": ok"))).toEqual([]);
  });

  it("sets the pod MTU from subnet.env and routes the cluster network via the bridge gateway", async () => {
    for (const p of pods) {
      const links = await ipJson<{ ifname: string; mtu: number }[]>(p.ns, ["link", "show", "eth0"]);
      expect(links[0]?.mtu).toBe(1450);
      const routes = await ipJson<{ dst: string; gateway?: string }[]>(p.ns, ["route", "show"]);
      const gw = p.node.subnet.replace(/0\/24$/, "1");
      expect(routes).toContainEqual(expect.objectContaining({ dst: "default", gateway: gw }));
      expect(routes).toContainEqual(expect.objectContaining({ dst: "10.244.0.0/16", gateway: gw }));
    }
  });

  it("turns hairpin mode on for every pod's bridge port", async () => {
    for (const n of nodes) {
      const ports = await ipJson<{ ifname: string; linkinfo?: { info_slave_data?: { hairpin?: boolean } } }[]>(n.ns, [
        "-d",
        "link",
        "show",
        "master",
        "cni0",
      ]);
      expect(ports).toHaveLength(2);
      for (const port of ports) expect(port.linkinfo?.info_slave_data?.hairpin).toBe(true);
    }
  });

  it("chains the reference portmap: node2 reaches pod a on node1 through node1:8080", async () => {
    const [n1, n2] = nodes;
    if (!n1 || !n2) throw new Error("two nodes expected");
    await run("ip", ["netns", "exec", n1.ns, "sysctl", "-qw", "net.ipv4.conf.all.route_localnet=1"]);
    expect(await tcpProbe(n2.ns, n1.ip, 8080)).toBe("ok");
  });

  it("DEL of every pod releases every address and removes every veth (runs last)", async () => {
    for (const s of servers.splice(0)) s.stop();
    for (const p of pods) {
      const s = scratches[nodes.indexOf(p.node)];
      if (!s) throw new Error("scratch missing");
      const r = await cnitool(variant.rt, s, {
        node: p.node.ns,
        cmd: "del",
        net: "cbr0",
        netnsPath: `/run/netns/${p.ns}`,
        ...(variant.env ? { env: variant.env } : {}),
      });
      expect(r.exitCode, r.stderr).toBe(0);
    }
    for (const [i, n] of nodes.entries()) {
      const files = Object.keys(snapshotFiles(scratches[i]?.dataDir ?? "/nonexistent"));
      expect(files.filter((f) => /\/\d+\.\d+\.\d+\.\d+$/.test(f))).toEqual([]);
      expect(await ipJson(n.ns, ["link", "show", "master", "cni0"])).toEqual([]);
      expect(Object.keys(snapshotFiles(join(scratches[i]?.cacheDir ?? "/nonexistent", "results")))).toEqual([]);
    }
  });
});
