// End to end with the wireguard backend: 3 nodes on a 192.0.2.0/24 underlay (plus 2001:db8:0:1::/64
// for dual stack), a real etcd, our flanneld on each node, pods added by our cnitool. This kernel
// has no WireGuard, so every node runs wireguard-go, each with its own key file (WIREGUARD_KEY_FILE)
// and its own /var/run/wireguard (netns-fixtures/cluster.ts wireguardNode). Checked: subnet.env,
// leases carrying PublicKey and Port, devices, MTU and ports, peers, cross-node TCP on every
// address, a restart that keeps the key, a node leaving, in separate mode (IPv4, dual stack) and
// with one device for both families (Mode ipv6).
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { publicKeyOf } from "../linux/wireguard/key.ts";
import { subnetOf, subnetOfV6, waitFor, WeftCluster, type ClusterNode } from "../netns-fixtures/topology/cluster.ts";
import { ipJson } from "../netns-fixtures/topology/sh.ts";
import { implsUnderTest } from "./impls.ts";

const ours = implsUnderTest().some((i) => i.isOurs);

const MODES = [
  { label: "IPv4", dualStack: false, mode: "separate" },
  { label: "dual stack, separate devices", dualStack: true, mode: "separate" },
  { label: "dual stack, one device (Mode ipv6)", dualStack: true, mode: "ipv6" },
] as const;

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

const keyFile = (n: ClusterNode) => join(n.scratch.root, "wgkey");
const publicKey = (n: ClusterNode) => publicKeyOf(readFileSync(keyFile(n), "utf8"));
const leaseKey = (n: ClusterNode, dual: boolean) =>
  `/coreos.com/network/subnets/${subnetOf(n.subnet ?? "").replace("/", "-")}` +
  (dual ? `&${subnetOfV6(n.subnetV6 ?? "").replace("/", "-")}` : "");

describe.runIf(ours).each(MODES)("flanneld cluster, wireguard: $label", (m) => {
  const c = new WeftCluster({
    nodes: 3,
    backend: "wireguard",
    dualStack: m.dualStack,
    ...(m.mode !== "separate" ? { backendConfig: { Mode: m.mode } } : {}),
  });
  const separate = m.mode === "separate";
  beforeAll(async () => {
    await c.start();
    await c.addPods(2);
    await c.waitMesh();
  }, 120_000);
  afterAll(() => c.teardown(), 60_000);

  it("leases distinct subnets and writes subnet.env with MTU 1500 - 80", () => {
    expect(new Set(c.nodes.map((n) => n.subnet)).size).toBe(3);
    for (const n of c.nodes) {
      expect(n.subnet).toMatch(/^10\.244\.\d+\.1\/24$/);
      expect(n.mtu).toBe("1420");
      if (m.dualStack) expect(n.subnetV6).toMatch(/^fd00:10:244:[0-9a-f]{1,2}::1\/64$/);
    }
  });

  it("keeps each node's private key in its key file (base64, 0400) and publishes its public key and port", async () => {
    const all = await leases(c);
    expect(all.size).toBe(3);
    for (const n of c.nodes) {
      const file = keyFile(n);
      expect(readFileSync(file, "utf8")).toMatch(/^[A-Za-z0-9+/]{43}=$/);
      expect(statSync(file).mode & 0o777).toBe(0o400);
      const attrs = all.get(leaseKey(n, m.dualStack));
      expect(attrs).toMatchObject({
        PublicIP: n.ip,
        BackendType: "wireguard",
        BackendData: { PublicKey: publicKey(n), Port: 51820 },
      });
      if (m.dualStack)
        expect(attrs).toMatchObject({
          PublicIPv6: n.ip6,
          BackendV6Data: { PublicKey: publicKey(n), Port: separate ? 51821 : 51820 },
        });
    }
  });

  it("runs the devices flanneld names, with the node's key, the ports and MTU 1420", async () => {
    for (const n of c.nodes) {
      const devs = await c.wgShow(n);
      const want =
        separate && m.dualStack
          ? [
              ["flannel-wg", 51820],
              ["flannel-wg-v6", 51821],
            ]
          : [["flannel-wg", 51820]];
      expect(devs.map((d) => [d.name, d.listenPort]).sort()).toEqual(want);
      for (const d of devs) {
        expect(d.publicKey).toBe(publicKey(n));
        const [link] = await ipJson<{ mtu: number }[]>(n.ns, ["link", "show", d.name]);
        expect(link?.mtu).toBe(1420);
      }
    }
  });

  it("makes every other node a peer: its public key, endpoint and subnets", async () => {
    for (const n of c.nodes) {
      const devs = await c.wgShow(n);
      const others = c.nodes.filter((o) => o !== n);
      const peers = devs.flatMap((d) => d.peers.map((p) => [d.name, p.publicKey, p.endpoint, p.allowedIps.join(",")]));
      const want = others.flatMap((o) => {
        const v4 = subnetOf(o.subnet ?? "");
        const v6 = m.dualStack ? subnetOfV6(o.subnetV6 ?? "") : "";
        if (!m.dualStack) return [["flannel-wg", publicKey(o), `${o.ip}:51820`, v4]];
        if (separate)
          return [
            ["flannel-wg", publicKey(o), `${o.ip}:51820`, v4],
            ["flannel-wg-v6", publicKey(o), `[${o.ip6}]:51821`, v6],
          ];
        return [["flannel-wg", publicKey(o), `[${o.ip6}]:51820`, [v4, v6].join(",")]];
      });
      expect(peers.sort()).toEqual(want.sort());
    }
  });

  it("every pod reaches every other pod over TCP, within and across nodes", async () => {
    expect(bad(await c.matrix())).toEqual([]);
    if (m.dualStack) expect(bad(await c.matrix(6))).toEqual([]);
  });

  it("a restarted daemon keeps its key: same public key in its lease, its device and its peers", async () => {
    const n = c.nodes[0];
    if (!n) throw new Error("node1 missing");
    const key = publicKey(n);
    const before = n.subnet;
    expect(await c.stopDaemon(n)).toBe(0);
    // flanneld removes its devices when it stops
    expect((await ipJson<{ ifname: string }[]>(n.ns, ["link", "show"])).map((l) => l.ifname)).not.toContain(
      "flannel-wg",
    );
    expect(readFileSync(c.logOf(n), "utf8")).toMatch(/removed wireguard device flannel-wg/);
    c.startDaemon(n);
    await c.waitReady(n);
    await c.waitMesh();
    expect(n.subnet).toBe(before);
    expect(publicKey(n)).toBe(key);
    expect((await c.wgShow(n)).map((d) => d.publicKey)).toEqual(separate && m.dualStack ? [key, key] : [key]);
    expect((await leases(c)).get(leaseKey(n, m.dualStack))).toMatchObject({ BackendData: { PublicKey: key } });
    for (const o of c.nodes.slice(1))
      expect((await c.wgShow(o)).flatMap((d) => d.peers.map((p) => p.publicKey))).toContain(key);
    expect(bad(await c.matrix())).toEqual([]);
  });

  it("a node whose lease is removed vanishes from the other nodes' peers", async () => {
    const gone = c.nodes[2];
    if (!gone?.subnet) throw new Error("node3 missing");
    const key = publicKey(gone);
    await c.stopDaemon(gone);
    const del = await c.etcd?.ctl(["del", leaseKey(gone, m.dualStack)]);
    expect(del?.stdout.trim()).toBe("1");
    for (const n of c.nodes.slice(0, 2)) {
      await waitFor(
        `${n.name} to drop the peer ${key}`,
        10_000,
        async () => !(await c.wgShow(n)).some((d) => d.peers.some((p) => p.publicKey === key)),
      );
      expect((await c.wgShow(n)).flatMap((d) => d.peers)).toHaveLength(separate && m.dualStack ? 2 : 1);
    }
  });
});

describe.runIf(ours)("flanneld, wireguard: a start-up failure after the device exists", () => {
  // the subnet file cannot be written: flanneld fails after registering the backend
  const c = new WeftCluster({
    nodes: 1,
    backend: "wireguard",
    flags: ["--subnet-file", "/proc/weft-no-such-dir/subnet.env"],
  });
  afterAll(() => c.teardown(), 60_000);

  it("exits 1 instead of hanging on wireguard-go, and leaves no device behind", async () => {
    await expect(c.start()).rejects.toThrow(/flanneld on node1 exited 1/);
    const n = c.nodes[0];
    if (!n) throw new Error("node1 missing");
    expect(readFileSync(c.logOf(n), "utf8")).toMatch(/created wireguard device flannel-wg/);
    // a live wireguard-go would still hold its TUN device; a killed one lets the kernel remove it
    // once its descriptors are closed, which takes the kernel a moment
    await waitFor("node1's flannel-wg to go with wireguard-go", 5000, async () =>
      (await ipJson<{ ifname: string }[]>(n.ns, ["link", "show"])).every((l) => l.ifname !== "flannel-wg"),
    );
  });
});
