// End to end on the embedded store: 2 nodes on a 192.0.2.0/24 underlay, the embedded etcd
// (netns-fixtures/etcd/embedded-etcd.ts, run by Bun in the underlay netns) instead of Debian's etcd, our
// flanneld with vxlan on each node, pods added by our cnitool. Pods reach each other across nodes;
// a restarted daemon gets its subnet back from the store; a node whose lease key is removed
// vanishes from the other node's routes.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { subnetOf, waitFor, WeftCluster } from "../netns-fixtures/topology/cluster.ts";
import { implsUnderTest } from "./impls.ts";

const ours = implsUnderTest().some((i) => i.isOurs);

/** Lease keys and their LeaseAttrs JSON, read back from the store (`get --prefix`). */
async function leases(c: WeftCluster): Promise<Map<string, { PublicIP?: string; BackendType?: string }>> {
  const r = await c.etcd?.ctl(["get", "--prefix", "/coreos.com/network/subnets/"]);
  if (r?.exitCode !== 0) throw new Error(`reading leases failed: ${r?.stderr}`);
  const lines = r.stdout.split("\n").filter((l) => l !== "");
  const out = new Map<string, { PublicIP?: string; BackendType?: string }>();
  for (let i = 0; i + 1 < lines.length; i += 2)
    out.set(lines[i] ?? "", JSON.parse(lines[i + 1] ?? "{}") as { PublicIP?: string; BackendType?: string });
  return out;
}

describe.runIf(ours)("flanneld cluster on the embedded store: vxlan, 2 nodes", () => {
  const c = new WeftCluster({ nodes: 2, backend: "vxlan", store: "embedded" });
  beforeAll(async () => {
    await c.start();
    await c.addPods(1);
    await c.waitMesh();
  }, 120_000);
  afterAll(() => c.teardown(), 60_000);

  it("runs on the embedded etcd and holds one lease per node with its public IP", async () => {
    expect(c.etcd?.kind).toBe("embedded");
    expect(c.etcd?.endpoint).toBe("http://192.0.2.1:2379");
    const l = await leases(c);
    const want = new Map(
      c.nodes.map((n) => [`/coreos.com/network/subnets/${subnetOf(n.subnet ?? "").replace("/", "-")}`, n.ip]),
    );
    expect([...l.keys()].sort()).toEqual([...want.keys()].sort());
    for (const [key, attrs] of l) {
      expect(attrs.PublicIP).toBe(want.get(key));
      expect(attrs.BackendType).toBe("vxlan");
    }
  });

  it("every pod reaches every other pod over TCP across the nodes", async () => {
    const m = await c.matrix();
    expect(m).toHaveLength(2);
    expect(m.filter(([, , r]) => r !== "ok").map(([a, b, r]) => `${a.name}->${b.name}: ${r}`)).toEqual([]);
  });

  it("a restarted daemon gets its subnet back from the store", async () => {
    const n = c.nodes[0];
    if (!n) throw new Error("node1 missing");
    const before = n.subnet;
    expect(await c.stopDaemon(n)).toBe(0);
    c.startDaemon(n);
    await c.waitReady(n);
    expect(n.subnet).toBe(before);
    expect((await leases(c)).size).toBe(2);
    const bad = (await c.matrix()).filter(([, , r]) => r !== "ok");
    expect(bad).toEqual([]);
  });

  it("a node whose lease key is removed vanishes from the other node's routes", async () => {
    const [stay, gone] = c.nodes;
    if (!stay || !gone?.subnet) throw new Error("nodes missing");
    const goneNet = subnetOf(gone.subnet);
    expect(await c.routedSubnets(stay)).toContain(goneNet);
    await c.stopDaemon(gone);
    expect(await c.etcd?.del(`/coreos.com/network/subnets/${goneNet.replace("/", "-")}`)).toBe(1);
    await waitFor(
      `${stay.name} to drop the route to ${goneNet}`,
      10_000,
      async () => !(await c.routedSubnets(stay)).includes(goneNet),
    );
    expect([...(await leases(c)).keys()]).toEqual([
      `/coreos.com/network/subnets/${subnetOf(stay.subnet ?? "").replace("/", "-")}`,
    ]);
  });
});
