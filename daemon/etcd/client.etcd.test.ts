// Integration tests of the etcd client against a real etcd (/usr/bin/etcd) on 127.0.0.1.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EtcdClient, EtcdError, prefixEnd } from "./client.ts";
import { haveEtcd, startEtcd, type EtcdCluster } from "../../netns-fixtures/etcd/etcd.ts";

if (!haveEtcd) console.warn("skipping etcd client tests: /usr/bin/etcd is not installed (apt-get install etcd-server)");

describe.skipIf(!haveEtcd)("etcd client over the gRPC gateway", () => {
  let cluster: EtcdCluster;
  let c: EtcdClient;
  beforeAll(async () => {
    cluster = await startEtcd(1);
    c = new EtcdClient({ endpoints: cluster.endpoints });
  }, 30_000);
  afterAll(async () => {
    c?.close();
    await cluster?.stop();
  });

  it("puts, gets and lists keys under a prefix with the store revision", async () => {
    const r1 = await c.put("/t/a/1", "one");
    await c.put("/t/a/2", "two");
    await c.put("/t/b", "other");
    const got = await c.get("/t/a/1");
    expect(got.kv?.value).toBe("one");
    expect(got.kv?.modRevision).toBe(r1);
    const l = await c.list("/t/a/");
    expect(l.kvs.map((k) => [k.key, k.value])).toEqual([
      ["/t/a/1", "one"],
      ["/t/a/2", "two"],
    ]);
    expect(l.revision).toBeGreaterThan(r1);
    expect((await c.get("/t/none")).kv).toBeUndefined();
  });

  it(
    "lists a prefix larger than one page: every key once, " + "in key order, UTF-8 intact, the hook between pages",
    async () => {
      const keys = ["/t/p/1", "/t/p/2", "/t/p/3", "/t/p/4", "/t/p/5é"];
      for (const k of keys) await c.put(k, `vü${k}`);
      const before = await c.put("/t/q", "outside");
      let between = 0;
      const paged = new EtcdClient({ endpoints: cluster.endpoints, betweenPages: () => between++ });
      const l = await paged.list("/t/p/", { pageSize: 2 });
      paged.close();
      expect(between).toBe(2); // 3 pages
      expect(l.kvs.map((k) => k.key)).toEqual(keys);
      expect(l.kvs.map((k) => k.value)).toEqual(keys.map((k) => `vü${k}`));
      expect(l.revision).toBe(before);
      const whole = await c.list("/t/p/");
      expect(whole.kvs.map((k) => [k.key, k.value, k.modRevision])).toEqual(
        l.kvs.map((k) => [k.key, k.value, k.modRevision]),
      );
    },
  );

  it("creates a key only when it does not exist yet", async () => {
    expect(await c.create("/t/c", "first")).toBe(true);
    expect(await c.create("/t/c", "second")).toBe(false);
    expect((await c.get("/t/c")).kv?.value).toBe("first");
  });

  it("attaches keys to leases, reports their TTL and deletes them on revoke", async () => {
    const l = await c.leaseGrant(60);
    expect(l.ttl).toBe(60);
    await c.put("/t/leased", "x", { lease: l.id });
    expect((await c.get("/t/leased")).kv?.lease).toBe(l.id);
    const ttl = await c.leaseTimeToLive(l.id);
    expect(ttl).toBeGreaterThan(55);
    expect(await c.leaseKeepAliveOnce(l.id)).toBe(60);
    await c.leaseRevoke(l.id);
    expect((await c.get("/t/leased")).kv).toBeUndefined();
    expect(await c.leaseTimeToLive(l.id)).toBe(-1);
  });

  it("streams watch events from a revision and stops on abort", async () => {
    const start = (await c.put("/t/w/x", "1")) + 1;
    await c.put("/t/w/y", "2");
    await c.delete("/t/w/x");
    const ac = new AbortController();
    const seen: string[] = [];
    const done = c.watch("/t/w/", { prefix: true, startRevision: start - 1, signal: ac.signal }, (r) => {
      for (const e of r.events) seen.push(`${e.type} ${e.kv.key}`);
      if (seen.length >= 3) ac.abort();
    });
    await done;
    expect(seen).toEqual(["put /t/w/x", "put /t/w/y", "delete /t/w/x"]);
  });

  it("reports a compacted start revision in the watch response", async () => {
    const rev = await c.put("/t/k/1", "a");
    const rev2 = await c.put("/t/k/1", "b");
    await c.compact(rev2);
    const ac = new AbortController();
    let compact = 0;
    await c.watch("/t/k/", { prefix: true, startRevision: rev, signal: ac.signal }, (r) => {
      if (r.canceled) {
        compact = r.compactRevision;
        ac.abort();
      }
    });
    expect(compact).toBe(rev2);
  });

  it("fails with a message naming the endpoints when none answers", async () => {
    const dead = new EtcdClient({ endpoints: ["http://127.0.0.1:1", "http://127.0.0.1:2"], timeoutMs: 500 });
    const err = await dead.get("/x").catch((e: unknown) => e);
    dead.close();
    expect(err).toBeInstanceOf(EtcdError);
    expect((err as Error).message).toMatch(/no etcd endpoint answered.*127\.0\.0\.1:1.*127\.0\.0\.1:2/);
  });
});

describe("etcd key ranges", () => {
  it("ends a prefix range at the prefix with its last byte incremented", () => {
    expect(Buffer.from(prefixEnd("/coreos.com/network/subnets/"), "base64").toString()).toBe(
      "/coreos.com/network/subnets0",
    );
    expect(Buffer.from(prefixEnd("a\u00ff"), "base64")).toEqual(Buffer.from([0x61, 0xc3, 0xc0]));
  });
});
