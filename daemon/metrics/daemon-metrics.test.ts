import { describe, expect, it } from "vitest";
import { parseCidr, type IpNet } from "../../net/prefix.ts";
import { CallRunner } from "../cni-server/calls.ts";
import { startHealthz } from "../healthz.ts";
import type { IpamView } from "../ipam-view.ts";
import type { Lease } from "../lease.ts";
import { parseExposition, sampleValue } from "../testing/prometheus-text.ts";
import { DaemonMetrics } from "./daemon-metrics.ts";

const net = (s: string): IpNet => {
  const n = parseCidr(s);
  if (!n) throw new Error(s);
  return n;
};
const lease = (i: number): Lease => ({ subnet: net(`10.244.${i}.0/24`), attrs: { PublicIP: `192.0.2.${10 + i}` } });

const ipam: IpamView = {
  networks: () => [
    {
      network: "cbr0",
      dir: "/x/cbr0",
      reservations: [
        { ip: "10.244.1.2", containerID: "a", ifname: "eth0" },
        { ip: "10.244.1.3", containerID: "b", ifname: "eth0" },
        { ip: "10.99.0.2", containerID: "c", ifname: "eth0" },
      ],
    },
    { network: "other", dir: "/x/other", reservations: [{ ip: "10.244.1.9", containerID: "d", ifname: undefined }] },
  ],
  poolSize: (s) => (s === "10.244.1.0/24" ? 253 : 0),
};

describe("flanneld /metrics", () => {
  it("counts leases known (own included), events by type and the time since the last one", () => {
    let now = 1_000_000;
    const m = new DaemonMetrics({ version: "1.2.3", now: () => now });
    m.setOwnLease(lease(1));
    let p = parseExposition(m.render());
    expect(sampleValue(p, "weft_leases_known")).toBe(1);
    expect(p.get("weft_last_lease_event_age_seconds")?.samples).toEqual([]);
    m.leaseEvents([
      { type: "added", lease: lease(2) },
      { type: "added", lease: lease(3) },
    ]);
    m.leaseEvents([{ type: "added", lease: lease(3) }]);
    now += 2500;
    m.leaseEvents([{ type: "removed", lease: lease(2) }]);
    now += 1500;
    p = parseExposition(m.render());
    expect(sampleValue(p, "weft_build_info", { version: "1.2.3" })).toBe(1);
    expect(sampleValue(p, "weft_leases_known")).toBe(2);
    expect(sampleValue(p, "weft_lease_events_total", { type: "added" })).toBe(3);
    expect(sampleValue(p, "weft_lease_events_total", { type: "removed" })).toBe(1);
    expect(sampleValue(p, "weft_last_lease_event_age_seconds")).toBe(1.5);
    expect(sampleValue(p, "weft_last_lease_event_timestamp_seconds")).toBe(1002.5);
  });

  it("reads the parts' counters at scrape time: peers, repairs, rules, store, CNI calls with latency", async () => {
    const m = new DaemonMetrics({ version: "v" });
    const repairs = new Map([["route_added", 2]]);
    const store = { errors: 1, reconnects: 0 };
    let clock = 0;
    const runner = new CallRunner(
      async (req: { env: Record<string, string> }) => {
        clock += req.env["CNI_COMMAND"] === "ADD" ? 30 : 2;
        return {
          exitCode: req.env["CNI_CONTAINERID"] === "bad" ? 1 : 0,
          stdout: new Uint8Array(),
          stderr: new Uint8Array(),
        };
      },
      10_000,
      () => clock,
    );
    m.attach({
      store: { kind: "etcd", stats: store },
      backend: { type: "vxlan", stats: () => ({ peers: [{ family: 4, count: 5 }], repairs }) },
      rules: () => ({ resyncs: 7, repairs: 1, errors: 0 }),
      cni: () => runner.stats,
    });
    await runner.run({ env: { CNI_COMMAND: "ADD", CNI_CONTAINERID: "c1" } });
    await runner.run({ env: { CNI_COMMAND: "ADD", CNI_CONTAINERID: "bad" } });
    await runner.run({ env: { CNI_COMMAND: "DEL", CNI_CONTAINERID: "c1" } });
    repairs.set("fdb_added", 1);
    store.reconnects = 4;
    const p = parseExposition(m.render());
    expect(sampleValue(p, "weft_peers_programmed", { backend: "vxlan", family: "ipv4" })).toBe(5);
    expect(sampleValue(p, "weft_reconcile_repairs_total", { kind: "route_added" })).toBe(2);
    expect(sampleValue(p, "weft_reconcile_repairs_total", { kind: "fdb_added" })).toBe(1);
    expect(sampleValue(p, "weft_rule_resyncs_total")).toBe(7);
    expect(sampleValue(p, "weft_rule_repairs_total")).toBe(1);
    expect(sampleValue(p, "weft_store_errors_total", { store: "etcd" })).toBe(1);
    expect(sampleValue(p, "weft_store_reconnects_total", { store: "etcd" })).toBe(4);
    expect(sampleValue(p, "weft_cni_calls_total", { command: "ADD", result: "success" })).toBe(1);
    expect(sampleValue(p, "weft_cni_calls_total", { command: "ADD", result: "error" })).toBe(1);
    expect(sampleValue(p, "weft_cni_calls_total", { command: "DEL", result: "success" })).toBe(1);
    // ADD took 30 ms twice: above the 0.025 bucket, inside 0.05
    expect(sampleValue(p, "weft_cni_call_duration_seconds_bucket", { command: "ADD", le: "0.025" })).toBe(0);
    expect(sampleValue(p, "weft_cni_call_duration_seconds_bucket", { command: "ADD", le: "0.05" })).toBe(2);
    expect(sampleValue(p, "weft_cni_call_duration_seconds_count", { command: "ADD" })).toBe(2);
    expect(sampleValue(p, "weft_cni_call_duration_seconds_sum", { command: "ADD" })).toBeCloseTo(0.06);
    expect(sampleValue(p, "weft_cni_calls_in_flight")).toBe(0);
  });

  it("IPAM: the pool of this node's subnet and the reservations inside it, over every network directory", () => {
    const m = new DaemonMetrics({ version: "v", ipam: { view: ipam, dataDir: "/x" } });
    expect(parseExposition(m.render()).get("weft_ipam_pool_size")?.samples).toEqual([]);
    m.setOwnLease(lease(1));
    const p = parseExposition(m.render());
    expect(sampleValue(p, "weft_ipam_pool_size", { family: "ipv4", subnet: "10.244.1.0/24" })).toBe(253);
    expect(sampleValue(p, "weft_ipam_allocated", { family: "ipv4", subnet: "10.244.1.0/24" })).toBe(3);
  });

  it("is served on /metrics of the health port in the Prometheus text content type", async () => {
    const m = new DaemonMetrics({ version: "v" });
    const s = await startHealthz(
      "127.0.0.1",
      0,
      () => true,
      () => m.render(),
    );
    try {
      const r = await fetch(`http://127.0.0.1:${s.port}/metrics`);
      expect(r.status).toBe(200);
      expect(r.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
      const p = parseExposition(await r.text());
      expect(sampleValue(p, "weft_ready")).toBe(0);
      const missing = await fetch(`http://127.0.0.1:${s.port}/nope`);
      expect(await missing.text()).toBe("not found: try /healthz, /readyz or /metrics");
    } finally {
      await s.close();
    }
  });
});
