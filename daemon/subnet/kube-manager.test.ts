// The Kubernetes subnet manager against a stub API server serving the real Node/NodeList/WATCH/
// PATCH JSON shapes (no real API server can be installed on this machine; see daemon/testing/stub-apiserver.ts).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { formatCidr, type IpNet } from "../../net/prefix.ts";
import type { LeaseEvent } from "../lease.ts";
import { memoryLogger } from "../testing/memory-logger.ts";
import { KubeClient } from "../kube/client.ts";
import { StubApiServer } from "../testing/stub-apiserver.ts";
import { KubeSubnetManager, resolveNodeName } from "./kube-manager.ts";
import { ConfigNotFoundError, type SubnetManager } from "./manager.ts";

const P = "flannel.alpha.coreos.com/";
const dir = mkdtempSync(join(tmpdir(), "weft-kube-"));
const netConf = join(dir, "net-conf.json");
writeFileSync(netConf, '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const vx = (ip: string, mac: string) => ({ PublicIP: ip, BackendType: "vxlan", BackendData: { VNI: 1, VtepMAC: mac } });
const peerAnn = (ip: string, mac: string) => ({
  [`${P}kube-subnet-manager`]: "true",
  [`${P}backend-type`]: "vxlan",
  [`${P}backend-data`]: `{"VNI":1,"VtepMAC":"${mac}"}`,
  [`${P}public-ip`]: ip,
});
const sig = () => new AbortController().signal;

async function until<T>(f: () => T | undefined, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("kube subnet manager", () => {
  let api: StubApiServer;
  let m: KubeSubnetManager;
  const make = (o: { netConfPath?: string; setNodeNetworkUnavailable?: boolean } = {}) =>
    new KubeSubnetManager({
      client: new KubeClient({ server: api.url, token: "test-token", source: "test" }),
      nodeName: "node-a",
      netConfPath: o.netConfPath ?? netConf,
      annotationPrefix: P,
      setNodeNetworkUnavailable: o.setNodeNetworkUnavailable ?? true,
      log: memoryLogger(),
      pollMs: 20,
      waitMs: 500,
    });
  beforeEach(async () => {
    api = new StubApiServer();
    await api.start();
    m = make();
  });
  afterEach(async () => {
    m.close();
    await api.stop();
  });

  it("is a SubnetManager", () => {
    const s: SubnetManager = m;
    expect(s.kind).toBe("kube");
  });

  it("reads net-conf.json, and says to mount the ConfigMap when it is missing", async () => {
    expect((await m.getNetworkConfig(sig())).backend.type).toBe("vxlan");
    const err = await make({ netConfPath: join(dir, "nope.json") })
      .getNetworkConfig(sig())
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigNotFoundError);
    expect((err as Error).message).toMatch(/kube-flannel-cfg ConfigMap/);
  });

  it("leases the node's podCIDR and publishes the flannel annotations on nodes/<name>/status", async () => {
    api.setNode("node-a", { podCIDRs: ["10.244.3.0/24"] });
    await m.getNetworkConfig(sig());
    const lease = await m.acquireLease(vx("192.0.2.1", "0e:00:00:00:00:0a"), sig());
    expect(formatCidr(lease.subnet as IpNet)).toBe("10.244.3.0/24");
    const patch = api.requests.find((r) => r.method === "PATCH");
    expect(patch?.url).toBe("/api/v1/nodes/node-a/status");
    expect(patch?.contentType).toBe("application/strategic-merge-patch+json");
    expect(api.nodes.get("node-a")?.metadata.annotations).toEqual({
      [`${P}backend-data`]: '{"VNI":1,"VtepMAC":"0e:00:00:00:00:0a"}',
      [`${P}backend-type`]: "vxlan",
      [`${P}kube-subnet-manager`]: "true",
      [`${P}public-ip`]: "192.0.2.1",
    });
    const patches = api.requests.filter((r) => r.method === "PATCH").length;
    await m.acquireLease(vx("192.0.2.1", "0e:00:00:00:00:0a"), sig());
    expect(api.requests.filter((r) => r.method === "PATCH").length).toBe(patches);
  });

  it("waits for a pod CIDR assigned shortly after the node registered", async () => {
    api.setNode("node-a");
    await m.getNetworkConfig(sig());
    setTimeout(() => api.setNode("node-a", { podCIDRs: ["10.244.8.0/24"] }), 100);
    expect(formatCidr((await m.acquireLease(vx("192.0.2.1", "0e:00:00:00:00:0a"), sig())).subnet as IpNet)).toBe(
      "10.244.8.0/24",
    );
  });

  it("waits for an API server that does not answer yet, saying so, instead of exiting", async () => {
    api.setNode("node-a", { annotations: { [`${P}node-public-ip`]: "192.0.2.9" } });
    class Unreachable extends KubeClient {
      fails = 3;
      override getNode(name: string, signal?: AbortSignal) {
        if (this.fails-- > 0) return Promise.reject(new Error("connect ECONNREFUSED 127.0.0.1:6443"));
        return super.getNode(name, signal);
      }
    }
    const log = memoryLogger();
    const waiting = new KubeSubnetManager({
      client: new Unreachable({ server: api.url, token: "test-token", source: "test" }),
      nodeName: "node-a",
      netConfPath: netConf,
      annotationPrefix: P,
      setNodeNetworkUnavailable: true,
      log,
      pollMs: 5,
      waitMs: 1,
    });
    expect(await waiting.nodePublicIPs(sig())).toEqual({ v4: "192.0.2.9" });
    waiting.close();
    const said = log.lines.map((l) => l.replace(/^time=\S+ /, "").replace(/ component=kube-subnet node=node-a/, ""));
    expect(said.filter((l) => !l.startsWith("level=debug"))).toEqual([
      'level=warn msg="waiting for the Kubernetes API" attempt=1 error="connect ECONNREFUSED 127.0.0.1:6443"',
      'level=info msg="done waiting for the Kubernetes API" failed_attempts=3 waited_s=0',
    ]);
  });

  it("writes backend-data null for host-gw and honours public-ip-overwrite", async () => {
    api.setNode("node-a", {
      podCIDRs: ["10.244.4.0/24"],
      annotations: { [`${P}public-ip-overwrite`]: "198.51.100.7" },
    });
    await m.getNetworkConfig(sig());
    const lease = await m.acquireLease({ PublicIP: "192.0.2.1", BackendType: "host-gw" }, sig());
    expect(lease.attrs.PublicIP).toBe("198.51.100.7");
    const ann = api.nodes.get("node-a")?.metadata.annotations ?? {};
    expect(ann[`${P}backend-data`]).toBe("null");
    expect(ann[`${P}public-ip`]).toBe("198.51.100.7");
  });

  it("fails with the fix when the node has no podCIDR or one outside Network", async () => {
    api.setNode("node-a");
    await m.getNetworkConfig(sig());
    await expect(m.acquireLease(vx("192.0.2.1", "0e:00:00:00:00:0a"), sig())).rejects.toThrow(
      /node "node-a" pod cidr not assigned.*--allocate-node-cidrs/,
    );
    api.setNode("node-a", { podCIDRs: ["10.99.0.0/24"] });
    await expect(m.acquireLease(vx("192.0.2.1", "0e:00:00:00:00:0a"), sig())).rejects.toThrow(
      /10\.99\.0\.0\/24 is not inside Network 10\.244\.0\.0\/16/,
    );
  });

  it("sets NetworkUnavailable=False with reason FlannelIsUp on completion", async () => {
    api.setNode("node-a", { podCIDRs: ["10.244.3.0/24"], conditions: [{ type: "Ready", status: "True" }] });
    await m.getNetworkConfig(sig());
    const lease = await m.acquireLease(vx("192.0.2.1", "0e:00:00:00:00:0a"), sig());
    const ac = new AbortController();
    const done = m.completeLease(lease, ac.signal);
    const cond = await until(() =>
      api.nodes.get("node-a")?.status.conditions.find((c) => c["type"] === "NetworkUnavailable"),
    );
    expect(cond).toMatchObject({ status: "False", reason: "FlannelIsUp", message: "Flannel is running on this node" });
    expect(api.nodes.get("node-a")?.status.conditions.find((c) => c["type"] === "Ready")).toBeDefined();
    ac.abort();
    await done;
  });

  it("reports managed peers, then only real changes, removals and 410 relists", async () => {
    api.setNode("node-a", { podCIDRs: ["10.244.1.0/24"] });
    api.setNode("node-b", { podCIDRs: ["10.244.2.0/24"], annotations: peerAnn("192.0.2.2", "0e:00:00:00:00:0b") });
    api.setNode("node-x", { podCIDRs: ["10.244.9.0/24"] }); // not run by flannel
    await m.getNetworkConfig(sig());
    const own = await m.acquireLease(vx("192.0.2.1", "0e:00:00:00:00:0a"), sig());
    const batches: LeaseEvent[][] = [];
    const show = () =>
      batches.map((b) =>
        b.map((e) => `${e.type} ${e.lease.attrs.PublicIP} ${JSON.stringify(e.lease.attrs.BackendData ?? null)}`),
      );
    const ac = new AbortController();
    const done = m.watchLeases(own, (b) => void batches.push([...b]), ac.signal);
    await until(() => batches.length >= 1);
    expect(show()).toEqual([['added 192.0.2.2 {"VNI":1,"VtepMAC":"0e:00:00:00:00:0b"}']]);
    // heartbeat-like update (condition only) -> nothing; own node changes -> nothing
    api.setNode("node-b", { conditions: [{ type: "Ready", status: "True" }] });
    api.setNode("node-a", { annotations: { other: "x" } });
    api.setNode("node-b", { annotations: { [`${P}backend-data`]: '{"VNI":1,"VtepMAC":"0e:00:00:00:00:bb"}' } });
    await until(() => batches.length >= 2);
    expect(show()[1]).toEqual(['added 192.0.2.2 {"VNI":1,"VtepMAC":"0e:00:00:00:00:bb"}']);
    api.setNode("node-c", { podCIDRs: ["10.244.5.0/24"], annotations: peerAnn("192.0.2.5", "0e:00:00:00:00:0c") });
    api.deleteNode("node-b");
    await until(() => batches.length >= 4);
    expect(show().slice(2)).toEqual([
      ['added 192.0.2.5 {"VNI":1,"VtepMAC":"0e:00:00:00:00:0c"}'],
      ['removed 192.0.2.2 {"VNI":1,"VtepMAC":"0e:00:00:00:00:bb"}'],
    ]);
    // The watch breaks, history expires while node-c leaves and node-d joins: relist and diff.
    const lists = () =>
      api.requests.filter((r) => r.method === "GET" && r.url.startsWith("/api/v1/nodes?limit=")).length;
    const listsBefore = lists();
    api.minRv = Number.MAX_SAFE_INTEGER;
    api.dropWatches();
    api.deleteNode("node-c");
    api.setNode("node-d", { podCIDRs: ["10.244.6.0/24"], annotations: peerAnn("192.0.2.6", "0e:00:00:00:00:0d") });
    await until(() => lists() > listsBefore);
    api.minRv = 0;
    await until(() => batches.length >= 5);
    expect(show()[4]).toEqual([
      'added 192.0.2.6 {"VNI":1,"VtepMAC":"0e:00:00:00:00:0d"}',
      'removed 192.0.2.5 {"VNI":1,"VtepMAC":"0e:00:00:00:00:0c"}',
    ]);
    ac.abort();
    await done;
  });

  it("re-watches from the last resourceVersion, without a relist, when the server ends a watch", async () => {
    api.setNode("node-a", { podCIDRs: ["10.244.1.0/24"] });
    await m.getNetworkConfig(sig());
    const own = await m.acquireLease(vx("192.0.2.1", "0e:00:00:00:00:0a"), sig());
    const batches: LeaseEvent[][] = [];
    const ac = new AbortController();
    const done = m.watchLeases(own, (b) => void batches.push([...b]), ac.signal);
    await until(() => batches.length >= 1);
    const watches = () => api.requests.filter((r) => r.url.includes("watch=1")).length;
    const lists = () => api.requests.filter((r) => r.url.startsWith("/api/v1/nodes?limit=")).length;
    await until(() => watches() === 1);
    api.endWatches();
    await until(() => watches() === 2);
    api.setNode("node-e", { podCIDRs: ["10.244.7.0/24"], annotations: peerAnn("192.0.2.7", "0e:00:00:00:00:0e") });
    await until(() => batches.length >= 2);
    expect(batches[1]?.map((e) => `${e.type} ${e.lease.attrs.PublicIP}`)).toEqual(["added 192.0.2.7"]);
    expect(lists()).toBe(1);
    expect(api.requests.filter((r) => r.url.includes("watch=1")).at(-1)?.url).toContain(
      `resourceVersion=${api.resourceVersion - 1}`,
    );
    ac.abort();
    await done;
  });

  it("counts watches opened again and broken ones for /metrics", async () => {
    api.setNode("node-a", { podCIDRs: ["10.244.1.0/24"] });
    await m.getNetworkConfig(sig());
    const own = await m.acquireLease(vx("192.0.2.1", "0e:00:00:00:00:0a"), sig());
    const ac = new AbortController();
    let batches = 0;
    const done = m.watchLeases(own, () => void batches++, ac.signal);
    const watches = () => api.requests.filter((r) => r.url.includes("watch=1")).length;
    await until(() => watches() === 1);
    expect(m.stats).toEqual({ errors: 0, reconnects: 0 });
    api.endWatches();
    await until(() => watches() === 2);
    expect(m.stats.reconnects).toBe(1);
    api.dropWatches();
    await until(() => watches() === 3);
    expect(m.stats.reconnects).toBe(2);
    expect(m.stats.errors).toBe(1);
    ac.abort();
    await done;
  });

  it("lists every flannel node's lease, and this node's podCIDR even before it is annotated (doctor)", async () => {
    api.setNode("node-a", { podCIDRs: ["10.244.1.0/24"] });
    api.setNode("node-b", { podCIDRs: ["10.244.2.0/24"], annotations: peerAnn("192.0.2.2", "0e:00:00:00:00:0b") });
    api.setNode("node-x", { podCIDRs: ["10.244.9.0/24"] });
    const all = await m.listLeases(sig());
    expect(all.map((l) => `${l.subnet ? formatCidr(l.subnet) : ""} ${l.attrs.PublicIP}`)).toEqual([
      "10.244.2.0/24 192.0.2.2",
    ]);
    const mine = await m.nodeLease(sig());
    expect(mine.name).toBe("node-a");
    expect(mine.lease?.subnet ? formatCidr(mine.lease.subnet) : "").toBe("10.244.1.0/24");
  });

  it("finds the node through POD_NAME/POD_NAMESPACE when NODE_NAME is unset", async () => {
    api.pods.set("kube-flannel/kube-flannel-ds-abcde", "node-z");
    const c = new KubeClient({ server: api.url, token: "test-token", source: "test" });
    expect(await resolveNodeName({ NODE_NAME: "n1" }, c)).toBe("n1");
    expect(await resolveNodeName({ POD_NAME: "kube-flannel-ds-abcde", POD_NAMESPACE: "kube-flannel" }, c)).toBe(
      "node-z",
    );
    await expect(resolveNodeName({}, c)).rejects.toThrow(/set NODE_NAME/);
    c.close();
  });

  it("lists nodes in pages, keeps every one, and runs the between-pages hook only between pages", async () => {
    for (let i = 0; i < 7; i++) api.setNode(`n${i}`, { podCIDRs: [`10.244.${10 + i}.0/24`] });
    const between: number[] = [];
    const c = new KubeClient({ server: api.url, token: "test-token", source: "test" }, undefined, {
      betweenPages: () => between.push(api.requests.length),
    });
    const before = api.requests.length;
    const list = await c.listNodes(undefined, 3);
    c.close();
    expect(list.items.map((n) => n.name)).toEqual(["n0", "n1", "n2", "n3", "n4", "n5", "n6"]);
    expect(between).toEqual([before + 1, before + 2]); // after pages 1 and 2, not after the last
    expect(list.items[6]?.podCIDRs).toEqual(["10.244.16.0/24"]);
    expect(list.resourceVersion).toBe(String(api.resourceVersion));
    expect(api.requests.filter((r) => r.url.startsWith("/api/v1/nodes?limit=3")).map((r) => r.url)).toEqual([
      "/api/v1/nodes?limit=3",
      "/api/v1/nodes?limit=3&continue=3",
      "/api/v1/nodes?limit=3&continue=6",
    ]);
  });

  it("explains a 401 from the API server", async () => {
    const c = new KubeClient({ server: api.url, token: "wrong", source: "test" });
    await expect(c.getNode("node-a")).rejects.toThrow(/HTTP 401: Unauthorized \(check the token/);
    c.close();
  });
});
