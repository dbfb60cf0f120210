// End to end, dual stack: 3 nodes on an underlay with 192.0.2.0/24 and 2001:db8:0:1::/64
// (documentation ranges), a real etcd holding a dual-stack config (Network 10.244.0.0/16 +
// EnableIPv6 + IPv6Network fd00:10:244::/56, unique local), our flanneld on each node, pods added by
// our cnitool through flannel -> bridge -> host-local with the dual-stack delegate built from
// subnet.env. Every pod reaches every other pod over TCP on its IPv4 and on its IPv6 address, with
// vxlan (flannel.1 + flannel-v6.1), host-gw and vxlan + DirectRouting. Then IPv6 only in kube mode
// (stub API server): pods reach each other over IPv6 with no IPv4 anywhere on the nodes.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CniScratch, cnitool, type CniRuntimeSpec } from "../netns-fixtures/topology/cni.ts";
import {
  POD_IPV6_NETWORK,
  readEnvFile,
  subnetOf,
  subnetOfV6,
  waitFor,
  WeftCluster,
  type ClusterNode,
} from "../netns-fixtures/topology/cluster.ts";
import { REFERENCE_PLUGIN_DIR, REPO_ROOT, WEFT_PLUGIN_DIR, requireBuilt } from "../netns-fixtures/oracles/reference.ts";
import { ipJson, run, runIn } from "../netns-fixtures/topology/sh.ts";
import { EchoServer, LiveConnection, tcpProbe } from "../netns-fixtures/topology/tcp.ts";
import { sweepStale, Topology } from "../netns-fixtures/topology/topology.ts";
import { stubKubeconfig } from "../daemon/testing/stub-apiserver.ts";
import { implsUnderTest } from "./impls.ts";

const ours = implsUnderTest().some((i) => i.isOurs);

const MODES = [
  { label: "vxlan", backend: "vxlan" as const },
  { label: "host-gw", backend: "host-gw" as const },
  { label: "vxlan + DirectRouting", backend: "vxlan" as const, directRouting: true },
];

interface LinkStats {
  ifname: string;
  mtu: number;
  address: string;
  stats64?: { tx: { packets: number } };
}

const bad = (m: [{ name: string }, { name: string }, string][]) =>
  m.filter(([, , r]) => r !== "ok").map(([a, b, r]) => `${a.name}->${b.name}: ${r}`);

async function leases(c: WeftCluster): Promise<Map<string, Record<string, unknown>>> {
  const r = await c.etcd?.ctl(["get", "--prefix", "/coreos.com/network/subnets/"]);
  const lines = (r?.stdout ?? "").split("\n").filter((l) => l !== "");
  const out = new Map<string, Record<string, unknown>>();
  for (let i = 0; i + 1 < lines.length; i += 2)
    out.set(lines[i] ?? "", JSON.parse(lines[i + 1] ?? "{}") as Record<string, unknown>);
  return out;
}

async function txPackets(n: ClusterNode, dev: string): Promise<number> {
  const [l] = await ipJson<LinkStats[]>(n.ns, ["-s", "link", "show", dev]);
  return l?.stats64?.tx.packets ?? 0;
}

describe.runIf(ours).each(MODES)("flanneld dual-stack cluster: $label", (mode) => {
  const c = new WeftCluster({
    nodes: 3,
    backend: mode.backend,
    dualStack: true,
    ...(mode.directRouting ? { directRouting: true } : {}),
  });
  const encap = mode.backend === "vxlan" && !mode.directRouting;
  let setupMs = 0;
  beforeAll(async () => {
    const t0 = Date.now();
    await c.start();
    await c.addPods(2);
    await c.waitMesh();
    setupMs = Date.now() - t0;
  }, 120_000);
  afterAll(() => c.teardown(), 60_000);

  it("leases every node a distinct /24 and a distinct /64 of the ULA network and writes both to subnet.env", () => {
    expect(new Set(c.nodes.map((n) => n.subnet)).size).toBe(3);
    expect(new Set(c.nodes.map((n) => n.subnetV6)).size).toBe(3);
    for (const n of c.nodes) {
      expect(n.subnet).toMatch(/^10\.244\.\d+\.1\/24$/);
      expect(n.subnetV6).toMatch(/^fd00:10:244:[0-9a-f]{1,2}::1\/64$/);
      const env = readEnvFile(join(n.scratch.root, "subnet.env"));
      expect(env["FLANNEL_IPV6_NETWORK"]).toBe(POD_IPV6_NETWORK);
      expect(env["FLANNEL_NETWORK"]).toBe("10.244.0.0/16");
      // vxlan: min(1500-50, 1500-70): one pod MTU must fit both encapsulations
      expect(n.mtu).toBe(mode.backend === "vxlan" ? "1430" : "1500");
    }
  });

  it("publishes PublicIPv6 (and for vxlan BackendV6Data with flannel-v6.1's MAC) in every node's lease", async () => {
    const all = await leases(c);
    expect(all.size).toBe(3);
    for (const n of c.nodes) {
      const key =
        `/coreos.com/network/subnets/${subnetOf(n.subnet ?? "").replace("/", "-")}&` +
        `${subnetOfV6(n.subnetV6 ?? "").replace("/", "-")}`;
      const attrs = all.get(key);
      expect(attrs, `lease ${key} in ${[...all.keys()].join(", ")}`).toBeDefined();
      expect(attrs?.["PublicIP"]).toBe(n.ip);
      expect(attrs?.["PublicIPv6"]).toBe(n.ip6);
      if (mode.backend === "vxlan") {
        const [dev] = await ipJson<LinkStats[]>(n.ns, ["link", "show", "flannel-v6.1"]);
        expect(attrs?.["BackendV6Data"]).toEqual({ VNI: 1, VtepMAC: dev?.address });
        expect(dev?.mtu).toBe(1430);
      } else {
        expect(attrs?.["BackendV6Data"]).toBeUndefined();
      }
    }
  });

  it(
    "gives every pod a usable (not tentative) IPv6 address " + "in its node's /64 and the pod MTU from subnet.env",
    async () => {
      for (const p of c.pods) {
        expect(p.ip6, p.name).toBeDefined();
        const [l] = await ipJson<
          { mtu: number; addr_info: { local: string; prefixlen: number; scope: string; tentative?: boolean }[] }[]
        >(p.ns, ["addr", "show", "eth0"]);
        const v6 = l?.addr_info.find((a) => a.local === p.ip6);
        expect(v6?.prefixlen).toBe(64);
        expect(v6?.tentative).toBeUndefined();
        expect(subnetOfV6(`${p.ip6 ?? ""}/64`)).toBe(subnetOfV6(p.node.subnetV6 ?? ""));
        expect(l?.mtu).toBe(Number(p.node.mtu));
      }
    },
  );

  it(
    "routes every other node's /64 on every node: over flannel-v6.1 " +
      "for vxlan, via the peer's IPv6 underlay address otherwise",
    async () => {
      for (const n of c.nodes) {
        const own = subnetOfV6(n.subnetV6 ?? "");
        const all = await ipJson<{ dst: string; gateway?: string; dev: string }[]>(n.ns, [
          "-6",
          "route",
          "show",
          "root",
          POD_IPV6_NETWORK,
        ]);
        // the node's own /64 is the bridge's connected route (cni0), not flanneld's
        expect(all.filter((r) => r.dst === own).map((r) => r.dev)).toEqual(["cni0"]);
        const routes = all.filter((r) => r.dst !== own);
        const peers = c.nodes.filter((m) => m !== n);
        expect(routes.map((r) => r.dst).sort()).toEqual(peers.map((m) => subnetOfV6(m.subnetV6 ?? "")).sort());
        for (const m of peers) {
          const r = routes.find((x) => x.dst === subnetOfV6(m.subnetV6 ?? ""));
          if (encap) expect([r?.dev, r?.gateway]).toEqual(["flannel-v6.1", subnetOfV6(m.subnetV6 ?? "").split("/")[0]]);
          else expect([r?.dev, r?.gateway]).toEqual(["eth0", m.ip6]);
        }
      }
    },
  );

  it("every pod reaches every other pod over TCP on its IPv4 address", async () => {
    expect(bad(await c.matrix(4))).toEqual([]);
  });

  it("every pod reaches every other pod over TCP on its IPv6 address (through flannel-v6.1 for vxlan)", async () => {
    const before = encap ? await Promise.all(c.nodes.map((n) => txPackets(n, "flannel-v6.1"))) : [];
    const t0 = Date.now();
    expect(bad(await c.matrix(6))).toEqual([]);
    const ms = Date.now() - t0;
    if (encap) {
      const after = await Promise.all(c.nodes.map((n) => txPackets(n, "flannel-v6.1")));
      for (const [i, a] of after.entries()) expect(a).toBeGreaterThan(before[i] ?? 0);
    }
    console.log(
      `[dualstack ${mode.label}] setup (etcd, 3 flanneld, 6 pods, mesh) ${setupMs} ms; 30 IPv6 TCP probes ${ms} ms`,
    );
  });

  it("a full-size IPv6 packet at the pod MTU crosses nodes without fragmentation (ping -M do)", async () => {
    const [a, b] = [c.pods[0], c.pods.find((p) => p.node !== c.pods[0]?.node)];
    if (!a || !b?.ip6) throw new Error("pods missing");
    const payload = Number(a.node.mtu) - 40 - 8;
    const r = await runIn(a.ns, "ping", ["-6", "-c", "2", "-W", "2", "-M", "do", "-s", String(payload), b.ip6], {
      allowFail: true,
    });
    expect(r.stdout + r.stderr).toMatch(/2 received/);
  });

  it("installs flanneld's masquerade chain for IPv6 on every node (ip6tables)", async () => {
    for (const n of c.nodes) {
      const nat = (await run("ip", ["netns", "exec", n.ns, "ip6tables", "-t", "nat", "-S", "FLANNEL-POSTRTG"])).stdout;
      expect(nat).toContain(`-s ${subnetOfV6(n.subnetV6 ?? "")} -d ${POD_IPV6_NETWORK}`);
      expect(nat).toContain(`-s ${POD_IPV6_NETWORK} ! -d ff00::/8`);
      const fwd = (await run("ip", ["netns", "exec", n.ns, "ip6tables", "-S", "FLANNEL-FWD"])).stdout;
      expect(fwd).toContain(`-s ${POD_IPV6_NETWORK}`);
    }
  });

  it.runIf(mode.label === "vxlan")(
    "a restarted daemon keeps both subnets and adopts flannel-v6.1 as is; a live IPv6 TCP connection survives",
    async () => {
      const n = c.nodes[0];
      const a = c.pods.find((p) => p.node === n);
      const b = c.pods.find((p) => p.node !== n);
      if (!n || !a || !b?.ip6) throw new Error("pods missing");
      const [devBefore] = await ipJson<{ ifindex: number; address: string }[]>(n.ns, ["link", "show", "flannel-v6.1"]);
      const client = new LiveConnection(a.ns, b.ip6);
      const [s4, s6] = [n.subnet, n.subnetV6];
      await new Promise((r) => setTimeout(r, 500));
      expect(await c.stopDaemon(n)).toBe(0);
      c.startDaemon(n);
      await c.waitReady(n);
      expect([n.subnet, n.subnetV6]).toEqual([s4, s6]);
      const res = await client.result();
      expect(res.error).toBeUndefined();
      expect(res.sent).toBeGreaterThan(30);
      expect(res.got).toBe(res.sent);
      const [devAfter] = await ipJson<{ ifindex: number; address: string }[]>(n.ns, ["link", "show", "flannel-v6.1"]);
      expect(devAfter).toMatchObject({ ifindex: devBefore?.ifindex, address: devBefore?.address });
    },
  );

  it.runIf(mode.label === "vxlan")("a deleted flannel-v6.1 is recreated and IPv6 pod traffic recovers", async () => {
    const n = c.nodes[1];
    if (!n) throw new Error("node2 missing");
    const before = await ipJson<{ ifindex: number }[]>(n.ns, ["link", "show", "flannel-v6.1"]);
    await run("ip", ["-n", n.ns, "link", "del", "flannel-v6.1"]);
    const peers = c.nodes
      .filter((m) => m !== n)
      .map((m) => subnetOfV6(m.subnetV6 ?? ""))
      .sort();
    const t0 = Date.now();
    await waitFor(`${n.name} to recreate flannel-v6.1 and replay its routes`, 15_000, async () => {
      const r = await ipJson<{ dst: string }[]>(n.ns, ["-6", "route", "show", "dev", "flannel-v6.1"]).catch(() => []);
      return (
        JSON.stringify(
          r
            .map((x) => x.dst)
            .filter((d) => d !== "fe80::/64")
            .sort(),
        ) === JSON.stringify(peers)
      );
    });
    console.log(
      `[dualstack vxlan] flannel-v6.1 recreated and ${peers.length} ` +
        `peers replayed in ${Date.now() - t0} ms (reconcile every 1 s)`,
    );
    const after = await ipJson<{ ifindex: number }[]>(n.ns, ["link", "show", "flannel-v6.1"]);
    expect(after[0]?.ifindex).not.toBe(before[0]?.ifindex);
    expect(bad(await c.matrix(6))).toEqual([]);
  });

  it.runIf(mode.label === "vxlan")(
    "a node whose lease is removed vanishes from the other nodes' IPv4 and IPv6 routes",
    async () => {
      const gone = c.nodes[2];
      if (!gone?.subnet || !gone.subnetV6) throw new Error("node3 missing");
      await c.stopDaemon(gone);
      const key =
        `/coreos.com/network/subnets/${subnetOf(gone.subnet).replace("/", "-")}&` +
        `${subnetOfV6(gone.subnetV6).replace("/", "-")}`;
      const del = await c.etcd?.ctl(["del", key]);
      expect(del?.stdout.trim()).toBe("1");
      for (const n of c.nodes.slice(0, 2)) {
        await waitFor(`${n.name} to drop the routes to ${gone.subnet} and ${gone.subnetV6}`, 10_000, async () => {
          const v4 = await c.routedSubnets(n);
          const v6 = await c.routedSubnetsV6(n);
          return !v4.includes(subnetOf(gone.subnet ?? "")) && !v6.includes(subnetOfV6(gone.subnetV6 ?? ""));
        });
        const neigh = await ipJson<{ dst: string }[]>(n.ns, ["-6", "neigh", "show", "dev", "flannel-v6.1"]);
        expect(neigh.map((x) => x.dst)).not.toContain(subnetOfV6(gone.subnetV6).split("/")[0]);
      }
    },
  );
});

// IPv6 only, kube mode: the nodes' underlay has no IPv4 address at all, the stub API server (in the
// underlay netns, reached over IPv6) hands out IPv6 podCIDRs, net-conf.json has EnableIPv4 false.
const V6_MODES = [
  { label: "vxlan", backend: "vxlan" as const },
  { label: "host-gw", backend: "host-gw" as const },
];
const RUNTIME: CniRuntimeSpec = {
  cnitool: join(WEFT_PLUGIN_DIR, "cnitool"),
  pluginPath: [WEFT_PLUGIN_DIR, REFERENCE_PLUGIN_DIR],
};
const STUB = join(REPO_ROOT, "daemon", "testing", "kube-stub-driver.ts");
const BUN = join(REPO_ROOT, "node_modules", ".bin", "bun");

interface V6Node {
  readonly name: string;
  readonly ns: string;
  readonly ip6: string;
  readonly podCidr: string;
  readonly scratch: CniScratch;
  daemon?: ChildProcess;
  env?: Record<string, string>;
}

describe.runIf(ours).each(V6_MODES)("flanneld IPv6-only cluster in kube mode: $label", (mode) => {
  const topo = new Topology();
  const nodes: V6Node[] = [];
  const pods: { name: string; node: V6Node; ns: string; ip6: string }[] = [];
  const servers: EchoServer[] = [];
  let stub: ChildProcess | undefined;
  const log = (n: V6Node) => join(n.scratch.root, "flanneld.log");

  beforeAll(async () => {
    requireBuilt();
    await sweepStale();
    const under = await topo.underlay(3, { ipv6: true });
    const ul = topo.name("ul");
    await run("ip", ["-n", ul, "addr", "add", "2001:db8:0:1::1/64", "dev", "br0", "nodad"]);
    for (const [i, u] of under.entries()) {
      await run("ip", ["-n", u.ns, "-4", "addr", "flush", "dev", "eth0"]);
      nodes.push({
        name: `node${i + 1}`,
        ns: u.ns,
        ip6: u.ip6 ?? "",
        podCidr: `fd00:10:244:${i + 1}::/64`,
        scratch: new CniScratch(topo.name(`k${i + 1}`)),
      });
    }
    stub = spawn(
      "ip",
      [
        "netns",
        "exec",
        ul,
        BUN,
        STUB,
        "2001:db8:0:1::1",
        "6443",
        "s3cret",
        JSON.stringify(Object.fromEntries(nodes.map((n) => [n.name, [n.podCidr]]))),
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    await new Promise<void>((res, rej) => {
      stub?.stdout?.once("data", () => res());
      stub?.once("exit", (c) => rej(new Error(`stub API server exited ${c}`)));
    });
    for (const n of nodes) {
      const kubeconfig = join(n.scratch.root, "kubeconfig");
      writeFileSync(kubeconfig, stubKubeconfig("http://[2001:db8:0:1::1]:6443", "s3cret"));
      const netConf = join(n.scratch.root, "net-conf.json");
      writeFileSync(
        netConf,
        JSON.stringify({
          EnableIPv4: false,
          EnableIPv6: true,
          IPv6Network: POD_IPV6_NETWORK,
          Backend: { Type: mode.backend },
        }),
      );
      const args = [
        "--kube-subnet-mgr",
        `--kubeconfig-file=${kubeconfig}`,
        `--net-config-path=${netConf}`,
        "--iface",
        "eth0",
        "--ip-masq",
        "--subnet-file",
        join(n.scratch.root, "subnet.env"),
      ];
      const fd = openSync(log(n), "a");
      n.daemon = spawn("ip", ["netns", "exec", n.ns, join(WEFT_PLUGIN_DIR, "flanneld"), ...args], {
        stdio: ["ignore", fd, fd],
        env: { ...process.env, NODE_NAME: n.name, WEFT_RECONCILE_MS: "1000" },
      });
    }
    for (const n of nodes) {
      const file = join(n.scratch.root, "subnet.env");
      await waitFor(`${n.name}'s subnet.env`, 30_000, () => {
        if (n.daemon?.exitCode != null)
          throw new Error(`flanneld on ${n.name} exited ${n.daemon.exitCode}:\n${readFileSync(log(n), "utf8")}`);
        return existsSync(file);
      });
      n.env = readEnvFile(file);
    }
    for (const n of nodes) {
      n.scratch.writeConf("10-flannel.conflist", {
        name: "cbr0",
        cniVersion: "1.0.0",
        plugins: [
          {
            type: "flannel",
            subnetFile: join(n.scratch.root, "subnet.env"),
            dataDir: join(n.scratch.root, "flannel"),
            ipam: { dataDir: n.scratch.dataDir },
            delegate: { hairpinMode: true, isDefaultGateway: true },
          },
        ],
      });
      for (let p = 1; p <= 2; p++) {
        const ns = await topo.netns(`${n.name.slice(4)}q${p}`);
        const r = await cnitool(RUNTIME, n.scratch, {
          node: n.ns,
          cmd: "add",
          net: "cbr0",
          netnsPath: `/run/netns/${ns}`,
        });
        if (r.exitCode !== 0) throw new Error(`cnitool add on ${n.name} failed: ${r.stderr || r.stdout}`);
        const ips = (JSON.parse(r.stdout) as { ips: { address: string }[] }).ips.map(
          (x) => x.address.split("/")[0] ?? "",
        );
        expect(ips.every((a) => a.includes(":"))).toBe(true);
        const ip6 = ips[0] ?? "";
        pods.push({ name: `${n.name}-pod${p}`, node: n, ns, ip6 });
        servers.push(await EchoServer.start(ns, ip6));
      }
    }
    await waitFor("every node to route every other node's /64", 20_000, async () => {
      for (const n of nodes) {
        const have = (await ipJson<{ dst: string }[]>(n.ns, ["-6", "route", "show", "root", POD_IPV6_NETWORK])).map(
          (r) => r.dst,
        );
        if (nodes.some((m) => m !== n && !have.includes(m.podCidr))) return false;
      }
      return true;
    });
  }, 120_000);

  afterAll(async () => {
    for (const s of servers.splice(0)) s.stop();
    for (const p of pods.splice(0))
      await cnitool(RUNTIME, p.node.scratch, {
        node: p.node.ns,
        cmd: "del",
        net: "cbr0",
        netnsPath: `/run/netns/${p.ns}`,
      }).catch(() => undefined);
    for (const n of nodes) n.daemon?.kill("SIGKILL");
    stub?.kill("SIGKILL");
    await topo.cleanup();
    for (const n of nodes) n.scratch.dispose();
  }, 60_000);

  it("writes an IPv6-only subnet.env from the node's IPv6 podCIDR", () => {
    for (const n of nodes) {
      expect(n.env?.["FLANNEL_NETWORK"]).toBeUndefined();
      expect(n.env?.["FLANNEL_SUBNET"]).toBeUndefined();
      expect(n.env?.["FLANNEL_IPV6_NETWORK"]).toBe(POD_IPV6_NETWORK);
      expect(n.env?.["FLANNEL_IPV6_SUBNET"]).toBe(n.podCidr.replace("::/64", "::1/64"));
      expect(n.env?.["FLANNEL_MTU"]).toBe(mode.backend === "vxlan" ? "1430" : "1500");
    }
  });

  it(
    "programs only the IPv6 family: flannel-v6.1 (vxlan) or routes via " +
      "the peers' IPv6 underlay (host-gw), ip6tables rules, no IPv4 state",
    async () => {
      for (const n of nodes) {
        const vx = await ipJson<{ ifname: string }[]>(n.ns, ["link", "show", "type", "vxlan"]);
        expect(vx.map((l) => l.ifname)).toEqual(mode.backend === "vxlan" ? ["flannel-v6.1"] : []);
        const routes = await ipJson<{ dst: string; gateway?: string; dev: string }[]>(n.ns, [
          "-6",
          "route",
          "show",
          "root",
          POD_IPV6_NETWORK,
        ]);
        for (const m of nodes.filter((x) => x !== n)) {
          const r = routes.find((x) => x.dst === m.podCidr);
          expect([r?.dev, r?.gateway]).toEqual(
            mode.backend === "vxlan" ? ["flannel-v6.1", m.podCidr.split("/")[0]] : ["eth0", m.ip6],
          );
        }
        const nat6 = (await run("ip", ["netns", "exec", n.ns, "ip6tables", "-t", "nat", "-S", "FLANNEL-POSTRTG"]))
          .stdout;
        expect(nat6).toContain(`-s ${n.podCidr} -d ${POD_IPV6_NETWORK}`);
        const nat4 = await run("ip", ["netns", "exec", n.ns, "iptables", "-t", "nat", "-S", "FLANNEL-POSTRTG"], {
          allowFail: true,
        });
        expect(nat4.exitCode).not.toBe(0);
      }
    },
  );

  it("every pod reaches every other pod over TCP on IPv6", async () => {
    const out: [{ name: string }, { name: string }, string][] = [];
    for (const a of pods) for (const b of pods) if (a !== b) out.push([a, b, await tcpProbe(a.ns, b.ip6)]);
    expect(bad(out)).toEqual([]);
  });
});
