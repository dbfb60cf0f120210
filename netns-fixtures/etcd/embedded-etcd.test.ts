// The embedded etcd driven by our own EtcdClient (daemon/etcd/client.ts) over HTTP on 127.0.0.1,
// the way flanneld talks to a real etcd: KV and revisions, create-if-absent races, leases that
// expire for real and delete their keys, watches from a revision, compaction, keep-alive; then
// flanneld's subnet manager on top of it, and the CLI process under Bun.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { EtcdClient, EtcdError, type WatchResponse } from "../../daemon/etcd/client.ts";
import { formatCidr } from "../../net/prefix.ts";
import { memoryLogger } from "../../daemon/testing/memory-logger.ts";
import { EtcdSubnetManager } from "../../daemon/subnet/etcd-manager.ts";
import { EmbeddedEtcd, EmbeddedEtcdServer } from "./embedded-etcd.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Collect watch responses until `until` holds (or `ms` passes), then stop the watch. */
async function watchUntil(
  c: EtcdClient,
  key: string,
  opts: { prefix?: boolean; startRevision?: number; progressNotify?: boolean },
  until: (rs: WatchResponse[]) => boolean,
  during: () => Promise<unknown> = async () => undefined,
  ms = 5000,
): Promise<WatchResponse[]> {
  const got: WatchResponse[] = [];
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), ms);
  const done = c.watch(key, { ...opts, signal: ac.signal }, (r) => {
    got.push(r);
    if (until(got)) ac.abort();
  });
  await sleep(50);
  await during();
  await done;
  clearTimeout(timer);
  return got;
}

describe("embedded etcd served to our EtcdClient", () => {
  let srv: EmbeddedEtcdServer;
  let c: EtcdClient;
  beforeAll(async () => {
    srv = await EmbeddedEtcdServer.start({ host: "127.0.0.1", port: 0, minTtlSeconds: 1, progressNotifyMs: 200 });
    c = new EtcdClient({ endpoints: [srv.endpoint] });
  });
  afterAll(async () => {
    c.close();
    await srv.close();
  });

  it(
    "starts at revision 1 and gives every write the next revision, " + "with create/mod revision and version per key",
    async () => {
      expect((await c.get("/kv/none")).revision).toBe(1);
      const r1 = await c.put("/kv/a", "one");
      const r2 = await c.put("/kv/a", "two");
      const r3 = await c.put("/kv/b", "bee");
      expect([r1, r2, r3]).toEqual([2, 3, 4]);
      const { kv, revision } = await c.get("/kv/a");
      expect(kv).toEqual({ key: "/kv/a", value: "two", createRevision: 2, modRevision: 3, version: 2, lease: "0" });
      expect(revision).toBe(4);
    },
  );

  it("lists exactly the keys under a prefix in key order and deletes a prefix in one revision", async () => {
    await c.put("/list/x/2", "2");
    await c.put("/list/x/1", "1");
    await c.put("/list/x0", "not under /list/x/");
    await c.put("/list/w", "before");
    const l = await c.list("/list/x/");
    expect(l.kvs.map((k) => [k.key, k.value])).toEqual([
      ["/list/x/1", "1"],
      ["/list/x/2", "2"],
    ]);
    const before = (await c.get("/list/w")).revision;
    expect(await c.delete("/list/x/", { prefix: true })).toBe(2);
    expect((await c.get("/list/w")).revision).toBe(before + 1);
    expect((await c.list("/list/")).kvs.map((k) => k.key)).toEqual(["/list/w", "/list/x0"]);
    expect(await c.delete("/list/none")).toBe(0);
    expect((await c.get("/list/w")).revision).toBe(before + 1);
  });

  it(
    "lets exactly one of many racing clients create a key, " + "and rejects a put against a stale mod revision",
    async () => {
      const clients = Array.from({ length: 8 }, () => new EtcdClient({ endpoints: [srv.endpoint] }));
      const won = await Promise.all(clients.map((k, i) => k.create("/race/subnet", `node${i}`)));
      expect(won.filter(Boolean)).toHaveLength(1);
      const winner = won.indexOf(true);
      const { kv } = await c.get("/race/subnet");
      expect(kv?.value).toBe(`node${winner}`);
      expect(kv?.version).toBe(1);
      expect(await c.putIfUnchanged("/race/subnet", "mine", (kv?.modRevision ?? 0) - 1)).toBe(false);
      expect(await c.putIfUnchanged("/race/subnet", "mine", kv?.modRevision ?? 0)).toBe(true);
      expect((await c.get("/race/subnet")).kv?.version).toBe(2);
      for (const k of clients) k.close();
    },
  );

  it("expires a lease after its TTL: its keys are deleted in one revision and watchers get delete events", async () => {
    const { id, ttl } = await c.leaseGrant(1);
    expect(ttl).toBe(1);
    await c.put("/exp/a", "A", { lease: id });
    await c.put("/exp/b", "B", { lease: id });
    await c.put("/exp/keep", "no lease");
    expect((await c.get("/exp/a")).kv?.lease).toBe(id);
    const t0 = Date.now();
    const rs = await watchUntil(
      c,
      "/exp/",
      { prefix: true },
      (got) => got.some((r) => r.events.length > 0),
      async () => undefined,
      4000,
    );
    const waited = Date.now() - t0;
    const deletes = rs.flatMap((r) => r.events);
    expect(deletes.map((e) => [e.type, e.kv.key])).toEqual([
      ["delete", "/exp/a"],
      ["delete", "/exp/b"],
    ]);
    expect(new Set(deletes.map((e) => e.kv.modRevision)).size).toBe(1);
    expect(waited).toBeGreaterThan(500);
    expect(waited).toBeLessThan(2500);
    expect((await c.list("/exp/")).kvs.map((k) => k.key)).toEqual(["/exp/keep"]);
    expect(await c.leaseTimeToLive(id)).toBe(-1);
    await expect(c.put("/exp/c", "C", { lease: id })).rejects.toMatchObject({
      code: 5,
      message: "etcdserver: requested lease not found",
    });
  });

  it("keeps a lease alive past its TTL with keep-alives and answers 0 for a revoked lease", async () => {
    const { id } = await c.leaseGrant(1);
    await c.put("/ka/k", "v", { lease: id });
    for (let i = 0; i < 6; i++) {
      await sleep(400);
      expect(await c.leaseKeepAliveOnce(id)).toBe(1);
    }
    expect((await c.get("/ka/k")).kv?.value).toBe("v");
    expect(await c.leaseTimeToLive(id)).toBeGreaterThanOrEqual(0);
    await c.leaseRevoke(id);
    expect((await c.get("/ka/k")).kv).toBeUndefined();
    expect(await c.leaseKeepAliveOnce(id)).toBe(0);
    await expect(c.leaseRevoke(id)).rejects.toBeInstanceOf(EtcdError);
  });

  it("replays history from a start revision, then streams live puts and deletes in order", async () => {
    const from = await c.put("/w/a", "1");
    await c.put("/w/a", "2");
    await c.delete("/w/a");
    const rs = await watchUntil(
      c,
      "/w/",
      { prefix: true, startRevision: from },
      (got) => got.flatMap((r) => r.events).length >= 4,
      () => c.put("/w/b", "live"),
    );
    expect(rs[0]?.created).toBe(true);
    const evs = rs.flatMap((r) => r.events).map((e) => [e.type, e.kv.key, e.kv.value, e.kv.modRevision]);
    expect(evs).toEqual([
      ["put", "/w/a", "1", from],
      ["put", "/w/a", "2", from + 1],
      ["delete", "/w/a", "", from + 2],
      ["put", "/w/b", "live", from + 3],
    ]);
  });

  it("cancels a watch from a compacted revision with the compact revision, and refuses to compact twice", async () => {
    const old = await c.put("/cmp/k", "1");
    const now = await c.put("/cmp/k", "2");
    await c.compact(now);
    const rs = await watchUntil(c, "/cmp/k", { startRevision: old }, (got) => got.some((r) => r.canceled));
    const cancel = rs.find((r) => r.canceled);
    expect(cancel?.compactRevision).toBe(now);
    await expect(c.compact(old)).rejects.toMatchObject({
      code: 11,
      message: "etcdserver: mvcc: required revision has been compacted",
    });
    const ok = await watchUntil(c, "/cmp/k", { startRevision: now }, (got) => got.some((r) => r.events.length > 0));
    expect(ok.flatMap((r) => r.events).map((e) => e.kv.value)).toEqual(["2"]);
  });

  it("sends progress notifications with the current revision to a watch that asks for them", async () => {
    const rev = await c.put("/prog/x", "1");
    const rs = await watchUntil(
      c,
      "/prog/none",
      { progressNotify: true },
      (got) => got.filter((r) => !r.created && r.events.length === 0).length >= 2,
      async () => undefined,
      3000,
    );
    const progress = rs.filter((r) => !r.created && r.events.length === 0);
    expect(progress.length).toBeGreaterThanOrEqual(2);
    for (const p of progress) expect(p.revision).toBeGreaterThanOrEqual(rev);
  });

  it("drops a watcher when its client goes away", async () => {
    for (let i = 0; i < 40 && srv.watchers > 0; i++) await sleep(25);
    const base = srv.watchers;
    expect(base).toBe(0);
    const ac = new AbortController();
    const w = c.watch("/gone/", { prefix: true, signal: ac.signal }, () => undefined);
    for (let i = 0; i < 20 && srv.watchers === base; i++) await sleep(25);
    expect(srv.watchers).toBe(base + 1);
    ac.abort();
    await w;
    for (let i = 0; i < 20 && srv.watchers !== base; i++) await sleep(25);
    expect(srv.watchers).toBe(base);
  });
});

describe("flanneld's etcd subnet manager on the embedded etcd", () => {
  let srv: EmbeddedEtcdServer;
  const stop = new AbortController();
  beforeAll(async () => {
    srv = await EmbeddedEtcdServer.start({ host: "127.0.0.1", port: 0 });
    const c = new EtcdClient({ endpoints: [srv.endpoint] });
    await c.put(
      "/coreos.com/network/config",
      JSON.stringify({ Network: "10.244.0.0/16", SubnetLen: 24, Backend: { Type: "vxlan" } }),
    );
    c.close();
  });
  afterAll(async () => {
    stop.abort();
    await srv.close();
  });

  it("gives two nodes distinct subnets and tells one when the other's lease is removed", async () => {
    const mk = () =>
      new EtcdSubnetManager({ client: new EtcdClient({ endpoints: [srv.endpoint] }), log: memoryLogger() });
    const [m1, m2] = [mk(), mk()];
    await Promise.all([m1.getNetworkConfig(stop.signal), m2.getNetworkConfig(stop.signal)]);
    const [l1, l2] = await Promise.all([
      m1.acquireLease({ PublicIP: "192.0.2.11", BackendType: "vxlan" }, stop.signal),
      m2.acquireLease({ PublicIP: "192.0.2.12", BackendType: "vxlan" }, stop.signal),
    ]);
    const [s1, s2] = [l1, l2].map((l) => (l.subnet ? formatCidr(l.subnet) : ""));
    expect(s1).toMatch(/^10\.244\.\d+\.0\/24$/);
    expect(s2).toMatch(/^10\.244\.\d+\.0\/24$/);
    expect(s1).not.toBe(s2);
    const seen: string[] = [];
    const watching = m1.watchLeases(
      l1,
      async (batch) => {
        for (const e of batch) seen.push(`${e.type} ${e.lease.attrs.PublicIP}`);
      },
      stop.signal,
    );
    const admin = new EtcdClient({ endpoints: [srv.endpoint] });
    const { kvs } = await admin.list("/coreos.com/network/subnets/");
    expect(kvs).toHaveLength(2);
    expect(kvs.every((kv) => kv.lease !== "0")).toBe(true);
    for (let i = 0; i < 50 && !seen.includes("added 192.0.2.12"); i++) await sleep(50);
    const other = kvs.find((kv) => kv.value.includes("192.0.2.12"));
    await admin.delete(other?.key ?? "");
    for (let i = 0; i < 50 && !seen.includes("removed 192.0.2.12"); i++) await sleep(50);
    expect(seen).toContain("added 192.0.2.12");
    expect(seen).toContain("removed 192.0.2.12");
    admin.close();
    stop.abort();
    await watching.catch(() => undefined);
    m1.close();
    m2.close();
  });

  it("keeps a node's subnet through keep-alives past its " +
    "TTL, and reports it lost when its etcd lease is revoked", async () => {
    const log = memoryLogger();
    const live = new AbortController();
    const m = new EtcdSubnetManager({
      client: new EtcdClient({ endpoints: [srv.endpoint] }),
      log,
      prefix: "/renew",
      ttlSeconds: 2,
      renewMarginMs: 1000,
    });
    const admin = new EtcdClient({ endpoints: [srv.endpoint] });
    await admin.put("/renew/config", JSON.stringify({ Network: "10.244.0.0/16", Backend: { Type: "vxlan" } }));
    await m.getNetworkConfig(live.signal);
    const lease = await m.acquireLease({ PublicIP: "192.0.2.21", BackendType: "vxlan" }, live.signal);
    const done = m.completeLease(lease, live.signal).then(
      () => "ended",
      (e: unknown) => (e instanceof Error ? `${e.name}: ${e.message}` : String(e)),
    );
    await sleep(3500);
    const { kvs } = await admin.list("/renew/subnets/");
    expect(kvs).toHaveLength(1);
    expect(log.lines.filter((l) => l.includes("renewed the subnet lease")).length).toBeGreaterThanOrEqual(2);
    await admin.leaseRevoke(kvs[0]?.lease ?? "0");
    expect(await done).toMatch(/LeaseLostError: lease \/renew\/subnets\/10\.244\.\d+\.0-24 was removed/);
    live.abort();
    admin.close();
    m.close();
  }, 10_000);
});

describe("the embedded etcd CLI under Bun", () => {
  let e: EmbeddedEtcd | undefined;
  afterEach(() => e?.stop());

  it("listens on the given address and serves ctl put, get and del through our client", async () => {
    e = await EmbeddedEtcd.start({ host: "127.0.0.1", port: 0 });
    expect(e.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(e.output).toContain(`listening on ${e.endpoint}`);
    await e.put("/cli/k", "v1");
    await e.put("/cli/l", "v2");
    expect((await e.ctl(["get", "/cli/k"])).stdout).toBe("/cli/k\nv1\n");
    expect((await e.ctl(["get", "--prefix", "/cli/"])).stdout).toBe("/cli/k\nv1\n/cli/l\nv2\n");
    const c = new EtcdClient({ endpoints: [e.endpoint] });
    expect((await c.get("/cli/k")).kv?.version).toBe(1);
    c.close();
    expect(await e.del("/cli/k")).toBe(1);
    expect(await e.del("/cli/k")).toBe(0);
    expect((await e.ctl(["del", "--prefix", "/cli/"])).stdout).toBe("1\n");
    expect((await e.ctl(["frobnicate", "/cli/"])).exitCode).toBe(2);
  }, 20_000);
});
