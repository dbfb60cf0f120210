import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { SUPPORTED_BACKENDS, type BackendType } from "./config.ts";
import { defaultFlags, type FlannelFlags } from "./flags.ts";
import type { LeaseEvent } from "./lease.ts";
import { memoryLogger } from "./testing/memory-logger.ts";
import type { Backend, DataPlane, TrafficOptions } from "./dataplane.ts";
import { LARGE_BATCH, MEMORY_SLACK_BYTES, memoryKeeper, runFlanneld } from "./run.ts";
import type { SubnetManager } from "./subnet/manager.ts";
import { MemoryLeaseStore } from "./testing/memory-manager.ts";

const dir = mkdtempSync(join(tmpdir(), "weft-run-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let seq = 0;

/** A recording fake data plane: vxlan-like MTU, events and rule setups kept in arrays. */
function fakeDataPlane(ip: string) {
  const events: LeaseEvent[] = [];
  const traffic: TrafficOptions[] = [];
  const backend = (type: BackendType): Backend => ({
    type,
    async register(o) {
      const lease = await o.acquire({
        PublicIP: ip,
        BackendType: type,
        BackendData: { VNI: 1, VtepMAC: "0e:00:00:00:00:01" },
      });
      return {
        lease,
        mtu: o.extIface.mtu - 50,
        handleEvents: async (b) => void events.push(...b),
        run: async () => undefined,
      };
    },
  });
  const dp: DataPlane = {
    description: "fake",
    selectInterface: async (o) => ({ name: "eth0", index: 2, mtu: 1500, ipv4: ip, publicIP: o.publicIp || ip }),
    backend,
    traffic: { setup: async (o) => void traffic.push(o), run: async () => undefined },
  };
  return { dp, events, traffic };
}

function flags(over: Partial<FlannelFlags> = {}): FlannelFlags {
  return { ...defaultFlags(), subnetFile: join(dir, `subnet-${++seq}.env`), ipMasq: true, ...over };
}

describe("flanneld life cycle", () => {
  it("waits for the config, leases, writes subnet.env, reports peers and exits 0 on SIGTERM", async () => {
    const store = new MemoryLeaseStore();
    const peer = store.manager({ rng: () => 0 });
    const log = memoryLogger();
    const f = flags({ healthzPort: 0 });
    const { dp, events, traffic } = fakeDataPlane("192.0.2.1");
    const ac = new AbortController();
    let readyLease = "";
    const run = runFlanneld({
      flags: f,
      log,
      manager: store.manager({ rng: () => 0.5 }),
      dataPlane: dp,
      signal: ac.signal,
      configRetryMs: 10,
      onReady: (l) => (readyLease = String(l.subnet?.ip)),
    });
    await new Promise((r) => setTimeout(r, 50));
    expect(log.lines.some((l) => l.includes("waiting for the network config"))).toBe(true);
    store.setConfig('{"Network":"10.244.0.0/16"}');
    while (!readyLease) await new Promise((r) => setTimeout(r, 10));
    expect(readFileSync(f.subnetFile, "utf8")).toMatch(
      new RegExp(
        String.raw`^FLANNEL_NETWORK=10\.244\.0\.0\/16\nFLANNEL_SUBNET=10\.244\.\d+\.1\/24\n` +
          String.raw`FLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n$`,
      ),
    );
    expect(log.lines.some((l) => l.includes('no \\"Backend\\": using vxlan'))).toBe(true);
    expect(traffic[0]?.ipMasq).toBe(true);
    await peer.getNetworkConfig(ac.signal);
    await peer.acquireLease({ PublicIP: "192.0.2.2", BackendType: "vxlan" }, ac.signal);
    while (events.length === 0) await new Promise((r) => setTimeout(r, 10));
    expect(events.map((e) => `${e.type} ${e.lease.attrs.PublicIP}`)).toEqual(["added 192.0.2.2"]);
    ac.abort();
    expect(await run).toBe(0);
    expect(log.lines.at(-1)).toContain("Exiting cleanly");
    expect(readFileSync(f.subnetFile, "utf8")).toContain("FLANNEL_SUBNET="); // left in place
  });

  it("exits 0 at once on a SIGTERM that lands between ready and the start of the watch loops", async () => {
    const store = new MemoryLeaseStore('{"Network":"10.244.0.0/16"}');
    const log = memoryLogger();
    const { dp } = fakeDataPlane("192.0.2.9");
    const ac = new AbortController();
    const run = runFlanneld({
      flags: flags(),
      log,
      manager: store.manager(),
      dataPlane: dp,
      signal: ac.signal,
      onReady: () => ac.abort(),
    });
    const outcome = await Promise.race([run, new Promise((r) => setTimeout(() => r("still running"), 3000))]);
    expect(outcome).toBe(0);
    expect(log.lines.at(-1)).toContain("Exiting cleanly");
  });

  it("exits 1 with the reason when the lease is revoked", async () => {
    const store = new MemoryLeaseStore('{"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}}');
    const log = memoryLogger();
    const { dp } = fakeDataPlane("192.0.2.3");
    const ac = new AbortController();
    let lease: import("./lease.ts").Lease | undefined;
    const run = runFlanneld({
      flags: flags(),
      log,
      manager: store.manager(),
      dataPlane: dp,
      signal: ac.signal,
      onReady: (l) => (lease = l),
    });
    while (!lease) await new Promise((r) => setTimeout(r, 10));
    store.remove(lease.subnet as import("../net/prefix.ts").IpNet);
    expect(await run).toBe(1);
    expect(log.lines.some((l) => l.includes("keeping the lease failed") && l.includes("LeaseLostError"))).toBe(true);
  });

  it("serves /readyz 503 before the lease and 200 after, on --healthz-port", async () => {
    const store = new MemoryLeaseStore();
    const log = memoryLogger();
    const { dp } = fakeDataPlane("192.0.2.4");
    const ac = new AbortController();
    let ready = false;
    const run = runFlanneld({
      flags: flags({ healthzIp: "127.0.0.1", healthzPort: 39_000 + Math.floor(Math.random() * 1000) }),
      log,
      manager: store.manager(),
      dataPlane: dp,
      signal: ac.signal,
      configRetryMs: 10,
      onReady: () => (ready = true),
    });
    await new Promise((r) => setTimeout(r, 50));
    const port = /address=127\.0\.0\.1:(\d+)/.exec(log.lines.join("\n"))?.[1];
    expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(503);
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    store.setConfig('{"Network":"10.244.0.0/16"}');
    while (!ready) await new Promise((r) => setTimeout(r, 10));
    expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
    ac.abort();
    expect(await run).toBe(0);
  });

  it(
    "releases memory once startup applied the first batch " + "and after each large batch, not after small ones",
    async () => {
      const inner = new MemoryLeaseStore('{"Network":"10.244.0.0/16"}').manager();
      const peer = (i: number): LeaseEvent => ({
        type: "added",
        lease: {
          subnet: { family: 4, ip: 0x0af40000n + BigInt(i) * 256n, prefix: 24 },
          attrs: { PublicIP: `192.0.2.${i % 200}` },
        },
      });
      const batches: LeaseEvent[][] = [
        [],
        [peer(1)],
        Array.from({ length: LARGE_BATCH }, (_, i) => peer(i + 2)),
        [peer(300)],
      ];
      const releasedAfter: number[] = [];
      const { dp, events } = fakeDataPlane("192.0.2.6");
      const ac = new AbortController();
      const manager: SubnetManager = {
        ...inner,
        kind: "memory",
        getNetworkConfig: (sig) => inner.getNetworkConfig(sig),
        acquireLease: (a, sig) => inner.acquireLease(a, sig),
        completeLease: (l, sig) => inner.completeLease(l, sig),
        close: () => inner.close(),
        async watchLeases(_own, onEvents) {
          for (const b of batches) await onEvents(b);
          ac.abort();
        },
      };
      const code = await runFlanneld({
        flags: flags(),
        log: memoryLogger(),
        manager,
        dataPlane: dp,
        signal: ac.signal,
        releaseMemory: () => releasedAfter.push(events.length),
      });
      expect(code).toBe(0);
      expect(events).toHaveLength(LARGE_BATCH + 2);
      expect(releasedAfter).toEqual([0, LARGE_BATCH + 1]);
    },
  );

  it("releases memory when the RSS grew by the slack since the lowest level after the last release", async () => {
    let rss = 100 * MEMORY_SLACK_BYTES;
    let released = 0;
    const ac = new AbortController();
    const tick = () => new Promise((r) => setTimeout(r, 30));
    memoryKeeper({ rss: () => rss, releaseMemory: () => released++, checkMs: 5 }, ac.signal);
    rss += MEMORY_SLACK_BYTES / 2;
    await tick();
    expect(released).toBe(0);
    rss -= MEMORY_SLACK_BYTES; // the floor follows the RSS down
    await tick();
    rss += MEMORY_SLACK_BYTES;
    await tick();
    expect(released).toBeGreaterThanOrEqual(1);
    const after = released;
    ac.abort();
    rss += 10 * MEMORY_SLACK_BYTES;
    await tick();
    expect(released).toBe(after);
  });

  it.each(["ipsec", "tencent-vpc", "no-such-backend"])(
    "exits 1 at once, without retrying, on Backend.Type %s, naming the supported types",
    async (type) => {
      const store = new MemoryLeaseStore(JSON.stringify({ Network: "10.244.0.0/16", Backend: { Type: type } }));
      const log = memoryLogger();
      const { dp } = fakeDataPlane("192.0.2.7");
      const f = flags();
      const t0 = Date.now();
      expect(
        await runFlanneld({
          flags: f,
          log,
          manager: store.manager(),
          dataPlane: dp,
          signal: new AbortController().signal,
          configRetryMs: 60_000,
        }),
      ).toBe(1);
      expect(Date.now() - t0).toBeLessThan(5000);
      expect(log.lines.some((l) => l.includes("waiting for the network config"))).toBe(false);
      const last = log.lines.at(-1) ?? "";
      expect(last).toContain(`\\"Backend.Type\\" is \\"${type}\\", which weft does not support`);
      for (const t of SUPPORTED_BACKENDS) expect(last).toContain(`\\"${t}\\"`);
      expect(existsSync(f.subnetFile)).toBe(false);
    },
  );

  it("exits 1 naming the backend when the data plane lacks it", async () => {
    const store = new MemoryLeaseStore('{"Network":"10.244.0.0/16"}');
    const log = memoryLogger();
    const dp: DataPlane = { ...fakeDataPlane("192.0.2.5").dp, backend: () => undefined };
    expect(
      await runFlanneld({
        flags: flags(),
        log,
        manager: store.manager(),
        dataPlane: dp,
        signal: new AbortController().signal,
      }),
    ).toBe(1);
    expect(log.lines.at(-1)).toContain("the vxlan backend is not available");
  });
});
