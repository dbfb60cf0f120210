// End to end: 3 nodes on a 192.0.2.0/24 underlay, a real etcd, our flanneld on each node, pods added
// by our CNI plugins through our cnitool. Every pod reaches every other pod over TCP with vxlan,
// host-gw and vxlan + DirectRouting; a node that leaves disappears from the others' routes; a
// daemon restart keeps its subnet and live connections.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { subnetOf, waitFor, WeftCluster } from "../netns-fixtures/topology/cluster.ts";
import { LiveConnection } from "../netns-fixtures/topology/tcp.ts";
import { implsUnderTest } from "./impls.ts";

const ours = implsUnderTest().some((i) => i.isOurs);

const MODES = [
  { label: "vxlan", backend: "vxlan" as const, cniServer: true },
  { label: "host-gw", backend: "host-gw" as const, cniServer: true },
  { label: "vxlan + DirectRouting", backend: "vxlan" as const, directRouting: true, cniServer: true },
  // no CNI server: every flannel exec runs its call itself
  { label: "vxlan, CNI server off", backend: "vxlan" as const, cniServer: false },
];

describe.runIf(ours).each(MODES)("flanneld cluster: $label", (mode) => {
  const c = new WeftCluster({
    nodes: 3,
    backend: mode.backend,
    ...(mode.directRouting ? { directRouting: true } : {}),
    flags: mode.cniServer ? ["--v=1"] : ["--v=1", "--cni-socket="],
  });
  beforeAll(async () => {
    await c.start();
    await c.addPods(2);
    await c.waitMesh();
  }, 120_000);
  afterAll(() => c.teardown(), 60_000);

  it("leases a distinct /24 of 10.244.0.0/16 to every node and writes subnet.env", () => {
    const subnets = c.nodes.map((n) => n.subnet);
    expect(new Set(subnets).size).toBe(3);
    for (const s of subnets) expect(s).toMatch(/^10\.244\.\d+\.1\/24$/);
    for (const n of c.nodes) expect(n.mtu).toBe(mode.backend === "vxlan" ? "1450" : "1500");
  });

  it(
    mode.cniServer
      ? "each node's pods were added by its flanneld, through the CNI server"
      : "with --cni-socket= no CNI server runs and the exec adds the pods itself",
    () => {
      for (const n of c.nodes) {
        const log = readFileSync(c.logOf(n), "utf8");
        const adds = log.match(/msg="CNI call" command=ADD container=\S+ exit=0/g)?.length ?? 0;
        expect(log.includes("serving CNI calls"), n.name).toBe(mode.cniServer);
        expect(adds, n.name).toBe(mode.cniServer ? c.pods.filter((p) => p.node === n).length : 0);
      }
    },
  );

  it("every pod reaches every other pod over TCP, within and across nodes", async () => {
    const bad = (await c.matrix()).filter(([, , r]) => r !== "ok").map(([a, b, r]) => `${a.name}->${b.name}: ${r}`);
    expect(bad).toEqual([]);
  });

  it("installs flanneld's masquerade chain on every node in the iptables mode it logged (nft)", async () => {
    const { run } = await import("../netns-fixtures/topology/sh.ts");
    for (const n of c.nodes) {
      const nat = (await run("ip", ["netns", "exec", n.ns, "iptables-nft", "-t", "nat", "-S", "FLANNEL-POSTRTG"]))
        .stdout;
      expect(nat).toContain(`-s ${subnetOf(n.subnet ?? "")} -d 10.244.0.0/16`);
      expect(readFileSync(c.logOf(n), "utf8")).toContain(
        'msg="iptables mode" mode=nft reason="no kubelet hint chain; 0 legacy rules, 0 nft rules"',
      );
    }
  });

  it.runIf(mode.label === "vxlan")(
    "each flanneld, with its pods set up through its CNI server, stays within kube-weft.yml's memory request",
    async () => {
      const manifest = readFileSync(join(import.meta.dirname, "..", "daemon", "deploy", "kube-weft.yml"), "utf8");
      const request = Number(/requests:\n\s+cpu: "\d+m"\n\s+memory: "(\d+)Mi"/.exec(manifest)?.[1]);
      expect(request).toBeGreaterThan(0);
      // after at least one periodic reconcile pass (every 10 s), the daemon's steady state
      await new Promise((r) => setTimeout(r, 11_000));
      for (const n of c.nodes) {
        const status = readFileSync(`/proc/${n.daemon?.pid}/status`, "utf8");
        const mib = (k: string) =>
          Number(/\d+/.exec(status.split("\n").find((l) => l.startsWith(k)) ?? "")?.[0]) / 1024;
        const [rss, anon, peak] = [mib("VmRSS:"), mib("RssAnon:"), mib("VmHWM:")];
        console.log(
          `${n.name} flanneld: RSS ${rss.toFixed(1)} MiB (anonymous ${anon.toFixed(1)}), peak ${peak.toFixed(1)}`,
        );
        expect(rss, n.name).toBeLessThanOrEqual(request);
      }
    },
    30_000,
  );

  it.runIf(mode.label === "vxlan")(
    "a restarted daemon keeps its subnet and a live TCP connection survives",
    async () => {
      const n = c.nodes[0];
      const a = c.pods.find((p) => p.node === n);
      const b = c.pods.find((p) => p.node !== n);
      if (!n || !a || !b) throw new Error("pods missing");
      // A long-lived connection from a (node1) to b's echo server, a byte every 100 ms.
      const client = new LiveConnection(a.ns, b.ip);
      const before = n.subnet;
      await new Promise((r) => setTimeout(r, 500));
      expect(await c.stopDaemon(n)).toBe(0);
      c.startDaemon(n);
      await c.waitReady(n);
      expect(n.subnet).toBe(before);
      const res = await client.result();
      expect(res.error).toBeUndefined();
      expect(res.sent).toBeGreaterThan(30);
      expect(res.got).toBe(res.sent);
      expect(readFileSync(c.logOf(n), "utf8")).toMatch(/Exiting cleanly/);
    },
  );

  it.runIf(mode.label === "vxlan")("a node whose lease is removed vanishes from the other nodes' routes", async () => {
    const gone = c.nodes[2];
    if (!gone?.subnet) throw new Error("node3 missing");
    await c.stopDaemon(gone);
    const key = `/coreos.com/network/subnets/${subnetOf(gone.subnet).replace("/", "-")}`;
    const del = await c.etcd?.ctl(["del", key]);
    expect(del?.stdout.trim()).toBe("1");
    for (const n of c.nodes.slice(0, 2)) {
      await waitFor(
        `${n.name} to drop the route to ${gone.subnet}`,
        10_000,
        async () => !(await c.routedSubnets(n)).includes(subnetOf(gone.subnet ?? "")),
      );
    }
  });
});
