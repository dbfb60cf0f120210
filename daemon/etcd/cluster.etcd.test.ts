// The etcd client with TLS client certificates, with username/password auth, and failing over in
// a 3-member cluster when the member in use is killed. Real etcd on 127.0.0.1.
import { afterAll, describe, expect, it } from "vitest";
import { formatCidr, type IpNet } from "../../net/prefix.ts";
import type { LeaseEvent } from "../lease.ts";
import { memoryLogger } from "../testing/memory-logger.ts";
import { EtcdSubnetManager } from "../subnet/etcd-manager.ts";
import { EtcdClient } from "./client.ts";
import { haveEtcd, startEtcd, type EtcdCluster } from "../../netns-fixtures/etcd/etcd.ts";

if (!haveEtcd)
  console.warn("skipping etcd TLS/auth/cluster tests: /usr/bin/etcd is not installed (apt-get install etcd-server)");

const clusters: EtcdCluster[] = [];
const clients: EtcdClient[] = [];
afterAll(async () => {
  clients.forEach((c) => c.close());
  for (const c of clusters) await c.stop();
});

describe.skipIf(!haveEtcd)("etcd client security and failover", () => {
  it("talks to etcd over TLS with a client certificate and is refused without one", async () => {
    const cl = await startEtcd(1, { tls: true });
    clusters.push(cl);
    const t = cl.tls;
    if (!t) throw new Error("no tls files");
    const c = new EtcdClient({
      endpoints: cl.endpoints,
      tls: { caFile: t.caFile, certFile: t.clientCertFile, keyFile: t.clientKeyFile },
    });
    clients.push(c);
    expect(cl.endpoints[0]).toMatch(/^https:/);
    await c.put("/tls/k", "v");
    expect((await c.get("/tls/k")).kv?.value).toBe("v");
    const noCert = new EtcdClient({ endpoints: cl.endpoints, tls: { caFile: t.caFile }, timeoutMs: 2000 });
    clients.push(noCert);
    await expect(noCert.get("/tls/k")).rejects.toThrow(
      /TLS with https:\/\/127\.0\.0\.1:\d+ failed: [\s\S]*check --etcd-cafile, --etcd-certfile and --etcd-keyfile/,
    );
  }, 30_000);

  it("authenticates with a username and password and reports a wrong password", async () => {
    const cl = await startEtcd(1);
    clusters.push(cl);
    cl.etcdctl("user", "add", "root:rootpw");
    cl.etcdctl("auth", "enable");
    const c = new EtcdClient({ endpoints: cl.endpoints, username: "root", password: "rootpw" });
    clients.push(c);
    await c.put("/auth/k", "v");
    expect((await c.get("/auth/k")).kv?.value).toBe("v");
    const ac = new AbortController();
    const seen: string[] = [];
    const w = c.watch("/auth/", { prefix: true, signal: ac.signal }, (r) => {
      for (const e of r.events) seen.push(e.kv.key);
      if (seen.length > 0) ac.abort();
    });
    await new Promise((r) => setTimeout(r, 200));
    await c.put("/auth/w", "1");
    await w;
    expect(seen).toEqual(["/auth/w"]);
    const anon = new EtcdClient({ endpoints: cl.endpoints });
    clients.push(anon);
    await expect(anon.get("/auth/k")).rejects.toThrow(/user name is empty|permission denied|token/);
    const bad = new EtcdClient({ endpoints: cl.endpoints, username: "root", password: "nope" });
    clients.push(bad);
    await expect(bad.get("/auth/k")).rejects.toThrow(/authentication failed/);
  }, 30_000);

  it("authenticates again when the auth token expired", async () => {
    const cl = await startEtcd(1, { extraArgs: ["--auth-token-ttl=1"] });
    clusters.push(cl);
    cl.etcdctl("user", "add", "root:rootpw");
    cl.etcdctl("auth", "enable");
    const c = new EtcdClient({ endpoints: cl.endpoints, username: "root", password: "rootpw" });
    clients.push(c);
    await c.put("/ttl/k", "1");
    await new Promise((r) => setTimeout(r, 2500));
    await c.put("/ttl/k", "2");
    expect((await c.get("/ttl/k")).kv?.value).toBe("2");
  }, 30_000);

  it("keeps leasing and watching through the loss of the member in use in a 3-member cluster", async () => {
    const cl = await startEtcd(3);
    clusters.push(cl);
    const admin = new EtcdClient({ endpoints: [...cl.endpoints].reverse() });
    clients.push(admin);
    await admin.put("/coreos.com/network/config", '{"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}}');
    const a = new EtcdSubnetManager({
      client: new EtcdClient({ endpoints: cl.endpoints, timeoutMs: 1000 }),
      log: memoryLogger(),
    });
    const signal = new AbortController();
    await a.getNetworkConfig(signal.signal);
    expect(a["o"].client.endpoint).toBe(cl.endpoints[0]);
    const la = await a.acquireLease({ PublicIP: "192.0.2.60", BackendType: "host-gw" }, signal.signal);
    const seen: LeaseEvent[] = [];
    const watching = a.watchLeases(la, (b) => void seen.push(...b), signal.signal);
    await cl.kill(0);
    const b = new EtcdSubnetManager({
      client: new EtcdClient({ endpoints: cl.endpoints, timeoutMs: 1000 }),
      log: memoryLogger(),
    });
    await b.getNetworkConfig(signal.signal);
    const lb = await b.acquireLease({ PublicIP: "192.0.2.61", BackendType: "host-gw" }, signal.signal);
    expect(b["o"].client.endpoint).not.toBe(cl.endpoints[0]);
    const want = formatCidr(lb.subnet as IpNet);
    const end = Date.now() + 15_000;
    while (
      !seen.some((e) => e.type === "added" && e.lease.subnet && formatCidr(e.lease.subnet) === want) &&
      Date.now() < end
    ) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(seen.map((e) => `${e.type} ${e.lease.attrs.PublicIP}`)).toContain("added 192.0.2.61");
    expect(a["o"].client.endpoint).not.toBe(cl.endpoints[0]);
    signal.abort();
    await watching;
    a.close();
    b.close();
  }, 60_000);
});
