// End to end with the udp backend: 3 nodes on a 192.0.2.0/24 underlay, a real etcd, our flanneld on
// each node with Backend.Type "udp", pods added by our CNI plugins through our cnitool. What a user
// of flannel's udp backend sees: subnet.env with MTU underlay − 28, leases carrying PublicIP only,
// the TUN device flannel0 (subnet address /32, the whole network routed into it, UDP 8285), every
// pod reaching every other over TCP, flannel0 going away with the daemon and coming back with it,
// and a node that leaves dropped from the others' forwarders.
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readEnvFile, subnetOf, waitFor, WeftCluster } from "../netns-fixtures/topology/cluster.ts";
import { ipJson, run, runIn } from "../netns-fixtures/topology/sh.ts";
import { LiveConnection, tcpProbe } from "../netns-fixtures/topology/tcp.ts";
import { implsUnderTest } from "./impls.ts";

const ours = implsUnderTest().some((i) => i.isOurs);

describe.runIf(ours)("flanneld cluster: udp", () => {
  const c = new WeftCluster({ nodes: 3, backend: "udp" });
  beforeAll(async () => {
    await c.start();
    await c.addPods(2);
    await c.waitMesh();
  }, 120_000);
  afterAll(() => c.teardown(), 60_000);

  const leaseKey = (subnet: string) => `/coreos.com/network/subnets/${subnetOf(subnet).replace("/", "-")}`;

  it("leases a distinct /24 to every node and writes subnet.env with MTU = underlay - 28", () => {
    expect(new Set(c.nodes.map((n) => n.subnet)).size).toBe(3);
    for (const n of c.nodes) {
      const env = readEnvFile(`${n.scratch.root}/subnet.env`);
      expect(env["FLANNEL_NETWORK"]).toBe("10.244.0.0/16");
      expect(env["FLANNEL_SUBNET"]).toMatch(/^10\.244\.\d+\.1\/24$/);
      expect(env["FLANNEL_MTU"]).toBe("1472");
      expect(env["FLANNEL_IPMASQ"]).toBe("true");
    }
  });

  it("publishes leases as flannel's udp backend does: PublicIP only, no BackendType or BackendData", async () => {
    for (const n of c.nodes) {
      const r = await c.etcd?.ctl(["get", leaseKey(n.subnet ?? "")]);
      const value = r?.stdout.trim().split("\n")[1] ?? "";
      expect(JSON.parse(value)).toEqual({ PublicIP: n.ip, PublicIPv6: null });
    }
  });

  it("gives every node flannel0: TUN, subnet .0/32, MTU 1472, the network routed into it, UDP 8285", async () => {
    for (const n of c.nodes) {
      const [link] = await ipJson<{ mtu: number; flags: string[]; link_type: string }[]>(n.ns, [
        "link",
        "show",
        "flannel0",
      ]);
      expect(link?.link_type).toBe("none");
      expect(link?.mtu).toBe(1472);
      expect(link?.flags).toContain("UP");
      const [addr] = await ipJson<{ addr_info: { local: string; prefixlen: number; family: string }[] }[]>(n.ns, [
        "addr",
        "show",
        "flannel0",
      ]);
      expect(addr?.addr_info.filter((a) => a.family === "inet").map((a) => `${a.local}/${a.prefixlen}`)).toEqual([
        subnetOf(n.subnet ?? "").replace("/24", "/32"),
      ]);
      // one route for the whole network: the peers live in the forwarder's table, not the kernel's
      expect((await c.routedSubnets(n)).sort()).toEqual(["10.244.0.0/16", subnetOf(n.subnet ?? "")].sort());
      const [net] = await ipJson<{ dst: string; dev: string }[]>(n.ns, ["route", "show", "10.244.0.0/16"]);
      expect(net?.dev).toBe("flannel0");
      expect((await runIn(n.ns, "ss", ["-Hnul"])).stdout).toContain(`${n.ip}:8285`);
    }
  });

  it("every pod reaches every other pod over TCP, within and across nodes", async () => {
    const bad = (await c.matrix()).filter(([, , r]) => r !== "ok").map(([a, b, r]) => `${a.name}->${b.name}: ${r}`);
    expect(bad).toEqual([]);
  });

  it("installs flanneld's masquerade chain on every node", async () => {
    for (const n of c.nodes) {
      const nat = (await run("ip", ["netns", "exec", n.ns, "iptables", "-t", "nat", "-S", "FLANNEL-POSTRTG"])).stdout;
      expect(nat).toContain(`-s ${subnetOf(n.subnet ?? "")} -d 10.244.0.0/16`);
    }
  });

  it("a stopped daemon takes flannel0 along; restarted, it keeps its subnet and a live TCP connection", async () => {
    const n = c.nodes[0];
    const a = c.pods.find((p) => p.node === n);
    const b = c.pods.find((p) => p.node !== n);
    if (!n || !a || !b) throw new Error("pods missing");
    const client = new LiveConnection(a.ns, b.ip, { ms: 5000 });
    const before = n.subnet;
    await new Promise((r) => setTimeout(r, 500));
    expect(await c.stopDaemon(n)).toBe(0);
    const links = await ipJson<{ ifname: string }[]>(n.ns, ["link", "show"]);
    expect(links.map((l) => l.ifname)).not.toContain("flannel0");
    c.startDaemon(n);
    await c.waitReady(n);
    expect(n.subnet).toBe(before);
    const res = await client.result();
    expect(res.error).toBeUndefined();
    expect(res.sent).toBeGreaterThan(30);
    expect(res.got).toBe(res.sent);
    expect(readFileSync(c.logOf(n), "utf8")).toMatch(/closed the udp device/);
    await c.waitMesh();
  });

  it("a node whose lease is removed leaves the other nodes' forwarders: its pods answer net unreachable", async () => {
    const gone = c.nodes[2];
    const from = c.pods.find((p) => p.node === c.nodes[0]);
    const to = c.pods.find((p) => p.node === gone);
    if (!gone?.subnet || !from || !to) throw new Error("node3 missing");
    await c.stopDaemon(gone);
    // lease still there: node1 still forwards to node3, where nothing listens any more
    expect(await tcpProbe(from.ns, to.ip)).toBe("timeout");
    const del = await c.etcd?.ctl(["del", leaseKey(gone.subnet)]);
    expect(del?.stdout.trim()).toBe("1");
    for (const n of c.nodes.slice(0, 2)) {
      await waitFor(`${n.name}'s flanneld to drop ${gone.subnet}`, 10_000, () =>
        readFileSync(c.logOf(n), "utf8").includes(`subnet removed" backend=udp subnet=${subnetOf(gone.subnet ?? "")}`),
      );
    }
    // no lease covers node3's pods now: the forwarder answers at once instead of sending into the void
    expect(await tcpProbe(from.ns, to.ip)).toBe("ENETUNREACH");
    const other = c.pods.find((p) => p.node === c.nodes[1]);
    if (other) expect(await tcpProbe(from.ns, other.ip)).toBe("ok");
  });
});
