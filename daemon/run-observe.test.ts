// flanneld's life cycle with /metrics and the node probe on its health port (fake data plane,
// in-memory store): what a scrape and a `weft doctor` probe see once the daemon is ready.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { freePort } from "../netns-fixtures/etcd/etcd.ts";
import { defaultFlags } from "./flags.ts";
import { describeLease } from "./lease.ts";
import type { DataPlane } from "./dataplane.ts";
import { DaemonMetrics } from "./metrics/daemon-metrics.ts";
import { probePeer } from "./probe/prober.ts";
import { runFlanneld } from "./run.ts";
import { memoryLogger } from "./testing/memory-logger.ts";
import { MemoryLeaseStore } from "./testing/memory-manager.ts";
import { parseExposition, sampleValue } from "./testing/prometheus-text.ts";

const dir = mkdtempSync(join(tmpdir(), "weft-run-observe-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function dataPlane(ip: string): DataPlane {
  return {
    description: "fake",
    selectInterface: async () => ({ name: "eth0", index: 2, mtu: 1500, ipv4: ip, publicIP: ip }),
    backend: (type) => ({
      type,
      async register(o) {
        const lease = await o.acquire({ PublicIP: ip, BackendType: type });
        return {
          lease,
          mtu: 1450,
          handleEvents: async () => undefined,
          run: async () => undefined,
          stats: () => ({ peers: [{ family: 4, count: 1 }], repairs: new Map([["route_added", 3]]) }),
        };
      },
    }),
    traffic: {
      setup: async () => undefined,
      run: async () => undefined,
      stats: () => ({ resyncs: 4, repairs: 1, errors: 0 }),
    },
  };
}

describe("flanneld with --healthz-port: /metrics and the node probe", () => {
  it("a scrape shows the lease, the peer, the backend's and the rules' counts; a probe gets the subnet", async () => {
    const store = new MemoryLeaseStore('{"Network":"10.244.0.0/16"}');
    const port = await freePort();
    const ac = new AbortController();
    let ready = false;
    const metrics = new DaemonMetrics({ version: "9.9.9" });
    const run = runFlanneld({
      flags: { ...defaultFlags(), healthzIp: "127.0.0.1", healthzPort: port, subnetFile: join(dir, "subnet.env") },
      log: memoryLogger(),
      manager: store.manager({ rng: () => 0.5 }),
      dataPlane: dataPlane("192.0.2.21"),
      signal: ac.signal,
      metrics,
      version: "9.9.9",
      onReady: () => (ready = true),
    });
    while (!ready) await new Promise((r) => setTimeout(r, 10));
    const peer = store.manager({ rng: () => 0 });
    await peer.getNetworkConfig(ac.signal);
    const peerLease = await peer.acquireLease({ PublicIP: "192.0.2.22", BackendType: "vxlan" }, ac.signal);
    const scrape = async () => parseExposition(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
    let m = await scrape();
    for (let i = 0; i < 100 && sampleValue(m, "weft_leases_known") < 2; i++) {
      await new Promise((r) => setTimeout(r, 10));
      m = await scrape();
    }
    expect(sampleValue(m, "weft_ready")).toBe(1);
    expect(sampleValue(m, "weft_leases_known")).toBe(2);
    expect(sampleValue(m, "weft_peers_programmed", { backend: "vxlan", family: "ipv4" })).toBe(1);
    expect(sampleValue(m, "weft_reconcile_repairs_total", { kind: "route_added" })).toBe(3);
    expect(sampleValue(m, "weft_rule_resyncs_total")).toBe(4);
    // the in-memory store keeps no error counts: the family is there, without a sample
    expect(m.get("weft_store_errors_total")?.samples).toEqual([]);
    const own = store.list().find((l) => l.attrs.PublicIP === "192.0.2.21");
    const out = await probePeer({ address: "127.0.0.1", port, from: "10.244.0.0/24" });
    expect(out.ok && out.reply).toMatchObject({ version: "9.9.9", backend: "vxlan", publicIP: "192.0.2.21" });
    expect(out.ok && out.reply.subnet).toBe(own ? describeLease(own) : "?");
    expect(out.ok && out.reply.knowsSender).toBe(false);
    const fromPeer = await probePeer({ address: "127.0.0.1", port, from: describeLease(peerLease) });
    expect(fromPeer.ok && fromPeer.reply.knowsSender).toBe(true);
    ac.abort();
    expect(await run).toBe(0);
  });
});
