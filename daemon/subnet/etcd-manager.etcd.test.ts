// The etcd subnet manager against a real etcd (/usr/bin/etcd) on 127.0.0.1: leasing, renewal,
// watches, compaction resync, TLS + auth, and failover in a 3-member cluster.
import { createServer, connect, type Server, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EtcdClient } from "../etcd/client.ts";
import { freePort, haveEtcd, startEtcd, type EtcdCluster } from "../../netns-fixtures/etcd/etcd.ts";
import { formatCidr, parseCidr, type IpNet } from "../../net/prefix.ts";
import type { LeaseEvent } from "../lease.ts";
import { memoryLogger } from "../testing/memory-logger.ts";
import { EtcdSubnetManager, type EtcdManagerOptions } from "./etcd-manager.ts";
import { ConfigNotFoundError, LeaseLostError } from "./manager.ts";
import { sleep } from "../time.ts";

if (!haveEtcd)
  console.warn("skipping etcd subnet manager tests: /usr/bin/etcd is not installed (apt-get install etcd-server)");

const CONFIG = '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}';
const cidr = (s: string): IpNet => parseCidr(s) as IpNet;
const vx = (ip: string) => ({
  PublicIP: ip,
  BackendType: "vxlan",
  BackendData: { VNI: 1, VtepMAC: "0e:00:00:00:00:01" },
});

/** Collects batches; `until` waits for a predicate over everything seen. */
function recorder() {
  const batches: LeaseEvent[][] = [];
  return {
    batches,
    on: (b: readonly LeaseEvent[]) => void batches.push([...b]),
    flat: () =>
      batches
        .flat()
        .map((e) => `${e.type} ${e.lease.subnet ? formatCidr(e.lease.subnet) : "?"} ${e.lease.attrs.PublicIP}`),
    async until(pred: (flat: string[]) => boolean, ms = 8000): Promise<string[]> {
      const end = Date.now() + ms;
      while (Date.now() < end) {
        if (pred(this.flat())) return this.flat();
        await new Promise((r) => setTimeout(r, 25));
      }
      throw new Error(`timed out; saw ${JSON.stringify(this.flat())}`);
    },
  };
}

/** A TCP proxy in front of etcd that the test can cut (to break watches) and restore. */
async function proxy(
  target: number,
): Promise<{ port: number; cut: () => void; restore: () => void; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  let up = true;
  const server: Server = createServer((s) => {
    if (!up) return void s.destroy();
    const t = connect(target, "127.0.0.1");
    sockets.add(s).add(t);
    s.pipe(t).pipe(s);
    const end = () => (s.destroy(), t.destroy());
    s.on("error", end).on("close", end);
    t.on("error", end).on("close", end);
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
  return {
    port,
    cut: () => {
      up = false;
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
    restore: () => void (up = true),
    close: () => new Promise<void>((r) => (server.close(() => r()), [...sockets].forEach((s) => s.destroy()))),
  };
}

describe.skipIf(!haveEtcd)("etcd subnet manager", () => {
  let cluster: EtcdCluster;
  let admin: EtcdClient;
  let n = 0;
  const managers: EtcdSubnetManager[] = [];
  const make = (o: Partial<EtcdManagerOptions> & { prefix: string }, endpoints?: string[]) => {
    const m = new EtcdSubnetManager({
      client: new EtcdClient({ endpoints: endpoints ?? cluster.endpoints }),
      log: memoryLogger(),
      ...o,
    });
    managers.push(m);
    return m;
  };
  const fresh = async (config = CONFIG) => {
    const prefix = `/test${++n}/network`;
    await admin.put(`${prefix}/config`, config);
    return prefix;
  };
  beforeAll(async () => {
    cluster = await startEtcd(1);
    admin = new EtcdClient({ endpoints: cluster.endpoints });
  }, 30_000);
  /** Manager `a` reaches etcd through a proxy the test can break, `b` directly; both read the config. */
  const throughProxy = async (prefix: string) => {
    const p = await proxy(Number(new URL(cluster.endpoints[0] as string).port));
    const log = memoryLogger();
    const a = new EtcdSubnetManager({
      client: new EtcdClient({ endpoints: [`http://127.0.0.1:${p.port}`], timeoutMs: 500 }),
      log,
      prefix,
    });
    managers.push(a);
    const b = make({ prefix });
    await a.getNetworkConfig(new AbortController().signal);
    await b.getNetworkConfig(new AbortController().signal);
    return { p, log, a, b };
  };
  afterAll(async () => {
    managers.forEach((m) => m.close());
    admin?.close();
    await cluster?.stop();
  });

  it("says where the config was looked for and how to create it when it is missing", async () => {
    const m = make({ prefix: "/nothing/here" });
    const err = await m.getNetworkConfig(new AbortController().signal).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigNotFoundError);
    expect((err as Error).message).toContain("/nothing/here/config");
    expect((err as Error).message).toContain("etcdctl put");
  });

  it("refuses an IPv6-only config in etcd mode and says what to use instead", async () => {
    const prefix = await fresh('{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fc00::/48"}');
    await expect(make({ prefix }).getNetworkConfig(new AbortController().signal)).rejects.toThrow(
      /"EnableIPv4" is false.*--kube-subnet-mgr for IPv6-only/,
    );
  });

  it("acquires a dual-stack lease under the key 10.x-24&fc00:...-64", async () => {
    const prefix = await fresh(
      '{"Network":"10.244.0.0/16","EnableIPv6":true,"IPv6Network":"fc00::/48","Backend":{"Type":"vxlan"}}',
    );
    const m = make({ prefix, rng: () => 0 });
    await m.getNetworkConfig(new AbortController().signal);
    const lease = await m.acquireLease(
      { ...vx("192.0.2.16"), PublicIPv6: "2001:db8::16" },
      new AbortController().signal,
    );
    expect([formatCidr(lease.subnet as IpNet), formatCidr(lease.subnetV6 as IpNet)]).toEqual([
      "10.244.1.0/24",
      "fc00:0:0:1::/64",
    ]);
    const { kvs } = await admin.list(`${prefix}/subnets/`);
    expect(kvs.map((k) => k.key)).toEqual([`${prefix}/subnets/10.244.1.0-24&fc00:0:0:1::-64`]);
    expect(kvs[0]?.value).toContain('"PublicIPv6":"2001:db8::16"');
  });

  it("acquires a /24 in SubnetMin..SubnetMax and stores flannel's key, attrs JSON and a 24 h lease", async () => {
    const prefix = await fresh();
    const m = make({ prefix });
    const cfg = await m.getNetworkConfig(new AbortController().signal);
    expect(cfg.subnetLen).toBe(24);
    const lease = await m.acquireLease(vx("192.0.2.10"), new AbortController().signal);
    const sn = formatCidr(lease.subnet as IpNet);
    expect(sn).toMatch(/^10\.244\.(\d+)\.0\/24$/);
    expect(sn).not.toBe("10.244.0.0/24");
    const { kvs } = await admin.list(`${prefix}/subnets/`);
    expect(kvs.map((k) => k.key)).toEqual([`${prefix}/subnets/${sn.replace("/", "-")}`]);
    expect(kvs[0]?.value).toBe(
      '{"PublicIP":"192.0.2.10","PublicIPv6":null,"BackendType":"vxlan",' +
        '"BackendData":{"VNI":1,"VtepMAC":"0e:00:00:00:00:01"}}',
    );
    const ttl = await admin.leaseTimeToLive(kvs[0]?.lease ?? "0");
    expect(ttl).toBeGreaterThan(86300);
  });

  it(
    "gives a restarted node the same subnet by its public IP, " + "with the new attributes, on a fresh etcd lease",
    async () => {
      const prefix = await fresh();
      const a = make({ prefix });
      await a.getNetworkConfig(new AbortController().signal);
      const first = await a.acquireLease(vx("192.0.2.11"), new AbortController().signal);
      const oldLease = (await admin.list(`${prefix}/subnets/`)).kvs[0]?.lease ?? "0";
      const b = make({ prefix });
      await b.getNetworkConfig(new AbortController().signal);
      const again = await b.acquireLease(
        { ...vx("192.0.2.11"), BackendData: { VNI: 1, VtepMAC: "0e:00:00:00:00:02" } },
        new AbortController().signal,
      );
      expect(formatCidr(again.subnet as IpNet)).toBe(formatCidr(first.subnet as IpNet));
      const { kvs } = await admin.list(`${prefix}/subnets/`);
      expect(kvs).toHaveLength(1);
      expect(kvs[0]?.value).toContain("0e:00:00:00:00:02");
      expect(await admin.leaseTimeToLive(kvs[0]?.lease ?? "0")).toBeGreaterThan(86000);
      expect(await admin.leaseTimeToLive(oldLease)).toBe(-1); // the replaced etcd lease is revoked, not left to linger
    },
  );

  it("uses a reservation (a subnet key without an etcd lease) for its public IP and keeps it lease-less", async () => {
    const prefix = await fresh();
    await admin.put(`${prefix}/subnets/10.244.42.0-24`, '{"PublicIP":"192.0.2.15","PublicIPv6":null}');
    const m = make({ prefix });
    await m.getNetworkConfig(new AbortController().signal);
    const lease = await m.acquireLease(vx("192.0.2.15"), new AbortController().signal);
    expect(formatCidr(lease.subnet as IpNet)).toBe("10.244.42.0/24");
    expect(lease.expiration).toBeUndefined();
    const { kv } = await admin.get(`${prefix}/subnets/10.244.42.0-24`);
    expect(kv?.lease).toBe("0");
    expect(kv?.value).toContain('"BackendType":"vxlan"');
  });

  it("reuses the subnet of the previous subnet.env when no lease holds it", async () => {
    const prefix = await fresh();
    const m = make({ prefix, previous: { subnet: cidr("10.244.77.0/24") } });
    await m.getNetworkConfig(new AbortController().signal);
    const lease = await m.acquireLease(vx("192.0.2.12"), new AbortController().signal);
    expect(formatCidr(lease.subnet as IpNet)).toBe("10.244.77.0/24");
  });

  it("does not take the previous subnet when another node holds it", async () => {
    const prefix = await fresh();
    const other = make({ prefix, previous: { subnet: cidr("10.244.77.0/24") } });
    await other.getNetworkConfig(new AbortController().signal);
    await other.acquireLease(vx("192.0.2.13"), new AbortController().signal);
    const m = make({ prefix, previous: { subnet: cidr("10.244.77.0/24") } });
    await m.getNetworkConfig(new AbortController().signal);
    const lease = await m.acquireLease(vx("192.0.2.14"), new AbortController().signal);
    expect(formatCidr(lease.subnet as IpNet)).not.toBe("10.244.77.0/24");
  });

  it("gives distinct subnets to nodes racing for the same candidate", async () => {
    const prefix = await fresh();
    const ms = [0, 1, 2, 3, 4].map(() => make({ prefix, rng: () => 0 }));
    await Promise.all(ms.map((m) => m.getNetworkConfig(new AbortController().signal)));
    const leases = await Promise.all(
      ms.map((m, i) => m.acquireLease(vx(`192.0.2.${20 + i}`), new AbortController().signal)),
    );
    const subnets = leases.map((l) => formatCidr(l.subnet as IpNet));
    expect(new Set(subnets).size).toBe(5);
    expect([...subnets].sort()).toEqual([
      "10.244.1.0/24",
      "10.244.2.0/24",
      "10.244.3.0/24",
      "10.244.4.0/24",
      "10.244.5.0/24",
    ]);
  });

  it(
    "dual stack: nodes racing with the same IPv4 pick but different " +
      "IPv6 picks still get distinct subnets in both families",
    async () => {
      const prefix = await fresh(
        '{"Network":"10.244.0.0/16","EnableIPv6":true,"IPv6Network":"fc00::/48","Backend":{"Type":"vxlan"}}',
      );
      // Every node draws the first IPv4 candidate but a different IPv6 one: distinct keys
      // ("10.244.1.0-24&fc00:0:0:N::-64"), so create-if-absent alone would let all of them in.
      const ms = [0, 1, 2, 3, 4].map((i) => {
        let call = 0;
        return make({ prefix, rng: () => (call++ % 2 === 0 ? 0 : (i + 0.5) / 100) });
      });
      await Promise.all(ms.map((m) => m.getNetworkConfig(new AbortController().signal)));
      const leases = await Promise.all(
        ms.map((m, i) =>
          m.acquireLease(
            { ...vx(`192.0.2.${40 + i}`), PublicIPv6: `2001:db8::${40 + i}` },
            new AbortController().signal,
          ),
        ),
      );
      expect(new Set(leases.map((l) => formatCidr(l.subnet as IpNet))).size).toBe(5);
      expect(new Set(leases.map((l) => formatCidr(l.subnetV6 as IpNet))).size).toBe(5);
      expect((await admin.list(`${prefix}/subnets/`)).kvs).toHaveLength(5);
    },
  );

  it("reports the peers first, then added and removed leases with their attributes", async () => {
    const prefix = await fresh();
    const a = make({ prefix });
    const b = make({ prefix });
    await a.getNetworkConfig(new AbortController().signal);
    await b.getNetworkConfig(new AbortController().signal);
    const la = await a.acquireLease(vx("192.0.2.30"), new AbortController().signal);
    const rec = recorder();
    const ac = new AbortController();
    const done = a.watchLeases(la, rec.on, ac.signal);
    await rec.until(() => rec.batches.length >= 1);
    expect(rec.batches[0]).toEqual([]);
    const lb = await b.acquireLease(vx("192.0.2.31"), new AbortController().signal);
    const sb = formatCidr(lb.subnet as IpNet);
    await rec.until((f) => f.includes(`added ${sb} 192.0.2.31`));
    await admin.delete(`${prefix}/subnets/${sb.replace("/", "-")}`);
    const seen = await rec.until((f) => f.includes(`removed ${sb} 192.0.2.31`));
    expect(seen.filter((s) => s.includes(formatCidr(la.subnet as IpNet)))).toEqual([]);
    ac.abort();
    await done;
  });

  it("returns at once when stopped while the first batch (the peers' replay) is applied", async () => {
    // SIGTERM while the backend replays the peers: the watch opened after that must not outlive it
    const prefix = await fresh();
    await admin.put(`${prefix}/subnets/10.244.9.0-24`, JSON.stringify(vx("192.0.2.43")));
    const a = make({ prefix });
    await a.getNetworkConfig(new AbortController().signal);
    const la = await a.acquireLease(vx("192.0.2.44"), new AbortController().signal);
    const ac = new AbortController();
    let batches = 0;
    const done = a.watchLeases(
      la,
      async () => {
        batches++;
        ac.abort();
      },
      ac.signal,
    );
    const outcome = await Promise.race([done.then(() => "returned"), sleep(3000).then(() => "still watching")]);
    expect(outcome).toBe("returned");
    expect(batches).toBe(1);
  });

  it("keeps nothing running when completeLease or watchLeases start after the stop", async () => {
    const prefix = await fresh();
    const a = make({ prefix });
    await a.getNetworkConfig(new AbortController().signal);
    const la = await a.acquireLease(vx("192.0.2.45"), new AbortController().signal);
    const ac = new AbortController();
    ac.abort();
    const both = Promise.all([a.completeLease(la, ac.signal), a.watchLeases(la, async () => undefined, ac.signal)]);
    const outcome = await Promise.race([both.then(() => "returned"), sleep(3000).then(() => "still running")]);
    expect(outcome).toBe("returned");
  });

  it("reads the leases once at startup and still delivers a lease written between the steps", async () => {
    const prefix = await fresh();
    await admin.put(`${prefix}/subnets/10.244.7.0-24`, JSON.stringify(vx("192.0.2.40")));
    let lists = 0;
    const client = new (class extends EtcdClient {
      override list(...args: Parameters<EtcdClient["list"]>): ReturnType<EtcdClient["list"]> {
        lists++;
        return super.list(...args);
      }
    })({ endpoints: cluster.endpoints });
    const a = new EtcdSubnetManager({ client, log: memoryLogger(), prefix });
    managers.push(a);
    const signal = new AbortController().signal;
    await a.getNetworkConfig(signal);
    expect(await a.previousAttrs("192.0.2.41", signal)).toBeUndefined();
    await admin.put(`${prefix}/subnets/10.244.8.0-24`, JSON.stringify(vx("192.0.2.42")));
    const la = await a.acquireLease(vx("192.0.2.41"), signal);
    const rec = recorder();
    const ac = new AbortController();
    const done = a.watchLeases(la, rec.on, ac.signal);
    const seen = await rec.until(
      (f) => f.includes("added 10.244.7.0/24 192.0.2.40") && f.includes("added 10.244.8.0/24 192.0.2.42"),
    );
    expect(seen.filter((x) => x.includes(formatCidr(la.subnet as IpNet)))).toEqual([]);
    expect(lists).toBe(1);
    ac.abort();
    await done;
  });

  it("resyncs once from a snapshot after the watched revision was compacted, without a hot loop", async () => {
    const prefix = await fresh();
    const { p, log, a, b } = await throughProxy(prefix);
    const la = await a.acquireLease(vx("192.0.2.40"), new AbortController().signal);
    const lb = await b.acquireLease(vx("192.0.2.41"), new AbortController().signal);
    const rec = recorder();
    const ac = new AbortController();
    const done = a.watchLeases(la, rec.on, ac.signal);
    await rec.until((f) => f.length === 1);
    p.cut();
    // While a is disconnected: b goes away, c arrives, history is compacted.
    await admin.delete(`${prefix}/subnets/${formatCidr(lb.subnet as IpNet).replace("/", "-")}`);
    const c = make({ prefix });
    await c.getNetworkConfig(new AbortController().signal);
    const lc = await c.acquireLease(vx("192.0.2.42"), new AbortController().signal);
    const rev = await admin.put("/compact/marker", "x");
    await admin.compact(rev);
    await new Promise((r) => setTimeout(r, 300));
    p.restore();
    const seen = await rec.until(
      (f) => f.some((s) => s.startsWith("added") && s.endsWith("192.0.2.42")) && f.some((s) => s.startsWith("removed")),
    );
    expect(seen).toContain(`removed ${formatCidr(lb.subnet as IpNet)} 192.0.2.41`);
    expect(seen).toContain(`added ${formatCidr(lc.subnet as IpNet)} 192.0.2.42`);
    await new Promise((r) => setTimeout(r, 1500));
    const compactions = log.lines.filter((l) => l.includes("revision compacted")).length;
    const reconnects = log.lines.filter((l) => l.includes("reconnecting") || l.includes("retrying")).length;
    expect(compactions).toBe(1);
    expect(reconnects).toBeLessThan(15);
    ac.abort();
    await done;
    await p.close();
  });

  it("lists every lease for the doctor, and counts broken watches and reconnects for /metrics", async () => {
    const prefix = await fresh();
    const { p, log, a, b } = await throughProxy(prefix);
    const la = await a.acquireLease(vx("192.0.2.50"), new AbortController().signal);
    await b.acquireLease(vx("192.0.2.51"), new AbortController().signal);
    const all = await a.listLeases(new AbortController().signal);
    expect(all.map((l) => l.attrs.PublicIP).sort()).toEqual(["192.0.2.50", "192.0.2.51"]);
    const rec = recorder();
    const ac = new AbortController();
    const done = a.watchLeases(la, rec.on, ac.signal);
    await rec.until((f) => f.length === 1);
    expect(a.stats).toEqual({ errors: 0, reconnects: 0 });
    p.cut();
    await new Promise((r) => setTimeout(r, 800));
    p.restore();
    const c = make({ prefix });
    await c.getNetworkConfig(new AbortController().signal);
    await c.acquireLease(vx("192.0.2.52"), new AbortController().signal);
    await rec.until((f) => f.some((s) => s.endsWith("192.0.2.52")));
    // each failed attempt is one line of the wait logs (warn, info or debug), "done waiting" aside
    const failures = log.lines.filter((l) =>
      /msg="(still )?waiting for etcd \((the lease watch|listing leases)\)"/.test(l),
    ).length;
    expect(failures).toBeGreaterThan(0);
    expect(a.stats.errors).toBe(failures);
    expect(a.stats.reconnects).toBeGreaterThan(0);
    ac.abort();
    await done;
    await p.close();
  });

  it("renews at most once a second when the margin is longer than the TTL", async () => {
    const prefix = await fresh();
    const log = memoryLogger();
    const m = make({ prefix, ttlSeconds: 2, renewMarginMs: 60_000, log });
    await m.getNetworkConfig(new AbortController().signal);
    const lease = await m.acquireLease(vx("192.0.2.52"), new AbortController().signal);
    const ac = new AbortController();
    const done = m.completeLease(lease, ac.signal);
    await new Promise((r) => setTimeout(r, 3500));
    ac.abort();
    await done;
    const renewals = log.lines.filter((l) => l.includes("renewed the subnet lease")).length;
    expect(renewals).toBeGreaterThanOrEqual(2);
    expect(renewals).toBeLessThanOrEqual(5);
    expect((await admin.list(`${prefix}/subnets/`)).kvs).toHaveLength(1);
  }, 10_000);

  it("renews the lease before it expires and keeps the key", async () => {
    const prefix = await fresh();
    const m = make({ prefix, ttlSeconds: 3, renewMarginMs: 2000 });
    await m.getNetworkConfig(new AbortController().signal);
    const lease = await m.acquireLease(vx("192.0.2.50"), new AbortController().signal);
    const ac = new AbortController();
    const done = m.completeLease(lease, ac.signal);
    await new Promise((r) => setTimeout(r, 4500));
    const { kvs } = await admin.list(`${prefix}/subnets/`);
    expect(kvs).toHaveLength(1);
    expect(await admin.leaseTimeToLive(kvs[0]?.lease ?? "0")).toBeGreaterThan(0);
    ac.abort();
    await done;
  }, 10_000);

  it("reports a lost lease when its key is deleted from etcd", async () => {
    const prefix = await fresh();
    const m = make({ prefix });
    await m.getNetworkConfig(new AbortController().signal);
    const lease = await m.acquireLease(vx("192.0.2.51"), new AbortController().signal);
    const done = m.completeLease(lease, new AbortController().signal).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 200));
    await admin.delete(`${prefix}/subnets/`, { prefix: true });
    const err = await done;
    expect(err).toBeInstanceOf(LeaseLostError);
    expect((err as Error).message).toContain(formatCidr(lease.subnet as IpNet).replace("/", "-"));
  });

  it("reports a lost lease, naming the writer's value, when another writer overwrites its key", async () => {
    const prefix = await fresh();
    const m = make({ prefix });
    await m.getNetworkConfig(new AbortController().signal);
    const lease = await m.acquireLease(vx("192.0.2.52"), new AbortController().signal);
    const done = m.completeLease(lease, new AbortController().signal).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 200));
    const key = `${prefix}/subnets/${formatCidr(lease.subnet as IpNet).replace("/", "-")}`;
    const intruder = JSON.stringify({ PublicIP: "192.0.2.99", BackendType: "vxlan" });
    await admin.put(key, intruder);
    const err = await done;
    expect(err).toBeInstanceOf(LeaseLostError);
    expect((err as Error).message).toContain("overwritten by another writer");
    expect((err as Error).message).toContain("192.0.2.99");
    // The manager leaves the other writer's value alone: it does not fight over the key.
    await new Promise((r) => setTimeout(r, 300));
    expect((await admin.get(key)).kv?.value).toBe(intruder);
  });
});

describe.skipIf(!haveEtcd)("etcd subnet manager with watch progress notifications", () => {
  let cluster: EtcdCluster;
  let admin: EtcdClient;
  beforeAll(async () => {
    cluster = await startEtcd(1, { extraArgs: ["--experimental-watch-progress-notify-interval=200ms"] });
    admin = new EtcdClient({ endpoints: cluster.endpoints });
  }, 30_000);
  afterAll(async () => {
    admin?.close();
    await cluster?.stop();
  });

  it("resumes a broken watch from the notified revision, " +
    "so a compaction of older history needs no resync", async () => {
    const prefix = "/progress/network";
    await admin.put(`${prefix}/config`, CONFIG);
    const p = await proxy(Number(new URL(cluster.endpoints[0] as string).port));
    const log = memoryLogger();
    const a = new EtcdSubnetManager({
      client: new EtcdClient({ endpoints: [`http://127.0.0.1:${p.port}`], timeoutMs: 500 }),
      log,
      prefix,
    });
    await a.getNetworkConfig(new AbortController().signal);
    const la = await a.acquireLease(vx("192.0.2.90"), new AbortController().signal);
    const rec = recorder();
    const ac = new AbortController();
    const done = a.watchLeases(la, rec.on, ac.signal);
    await rec.until(() => rec.batches.length === 1);
    for (let i = 0; i < 20; i++) await admin.put("/elsewhere/k", String(i)); // history moves on, nothing for us
    await new Promise((r) => setTimeout(r, 700)); // ≥ 2 progress notifications
    p.cut();
    await admin.compact(await admin.put("/elsewhere/k", "last"));
    p.restore();
    await admin.put(
      `${prefix}/subnets/10.244.200.0-24`,
      '{"PublicIP":"192.0.2.91","PublicIPv6":null,"BackendType":"vxlan"}',
    );
    await rec.until((f) => f.includes("added 10.244.200.0/24 192.0.2.91"));
    expect(log.lines.filter((l) => l.includes("revision compacted"))).toEqual([]);
    ac.abort();
    await done;
    a.close();
    await p.close();
  }, 20_000);
});
