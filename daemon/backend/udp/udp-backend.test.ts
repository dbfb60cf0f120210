import { describe, expect, it } from "vitest";
import { parseNetworkConfig } from "../../config.ts";
import type { ExternalInterface } from "../../iface.ts";
import { parseCidr } from "../../../net/prefix.ts";
import { formatLeaseAttrs, type Lease, type LeaseAttrs, type LeaseEvent } from "../../lease.ts";
import { memoryLogger } from "../../testing/memory-logger.ts";
import { describeRoute } from "./table.ts";
import { FakeUdpKernel } from "../../testing/fake-udp-kernel.ts";
import { udpBackend, udpPlan } from "./udp-backend.ts";

const IFACE: ExternalInterface = { name: "eth0", index: 2, mtu: 1500, ipv4: "192.0.2.11", publicIP: "192.0.2.11" };
const lease = (subnet: string, ip: string, type?: string): Lease => ({
  subnet: parseCidr(subnet)!,
  attrs: { PublicIP: ip, ...(type ? { BackendType: type } : {}) },
});
const added = (l: Lease): LeaseEvent => ({ type: "added", lease: l });
const removed = (l: Lease): LeaseEvent => ({ type: "removed", lease: l });

async function register(
  backend: Record<string, unknown> = {},
  o: { iface?: ExternalInterface; conf?: Record<string, unknown> } = {},
) {
  const kernel = new FakeUdpKernel();
  const log = memoryLogger();
  const config = parseNetworkConfig(
    JSON.stringify({ Network: "10.244.0.0/16", ...o.conf, Backend: { Type: "udp", ...backend } }),
    "test",
  );
  const published: LeaseAttrs[] = [];
  const nw = await udpBackend(kernel, log, { reconcileMs: 5 }).register({
    config,
    extIface: o.iface ?? IFACE,
    acquire: async (attrs) => {
      published.push(attrs);
      return { subnet: parseCidr("10.244.1.0/24")!, attrs };
    },
    log,
    signal: new AbortController().signal,
  });
  return { kernel, nw, published, log };
}

describe("udp backend registration", () => {
  it("publishes only PublicIP (as flannel), then makes flannel0: the subnet's /32, the network route", async () => {
    const { kernel, nw, published } = await register();
    expect(published.map(formatLeaseAttrs)).toEqual(['{"PublicIP":"192.0.2.11","PublicIPv6":null}']);
    expect(kernel.started.map((s) => s.spec)).toEqual([
      {
        name: "flannel0",
        address: "10.244.1.0/32",
        network: "10.244.0.0/16",
        mtu: 1472,
        bindIp: "192.0.2.11",
        port: 8285,
      },
    ]);
    expect(nw.mtu).toBe(1472);
    expect(nw.lease.subnet).toEqual(parseCidr("10.244.1.0/24"));
  });

  it("uses Backend.Port, Backend.MTU (underlay), --public-ip for the lease, binds the interface IP", async () => {
    const { kernel, nw, published } = await register(
      { Port: 9999, MTU: 9000 },
      { iface: { ...IFACE, publicIP: "203.0.113.7" } },
    );
    expect(published[0]?.PublicIP).toBe("203.0.113.7");
    expect(kernel.started[0]?.spec).toMatchObject({ port: 9999, mtu: 8972, bindIp: "192.0.2.11" });
    expect(nw.mtu).toBe(8972);
  });

  it("refuses EnableIPv6 and an interface without IPv4 before taking a lease, saying what to change", async () => {
    const dual = { EnableIPv6: true, IPv6Network: "fd00:10:244::/56" };
    await expect(register({}, { conf: dual })).rejects.toThrow(
      /udp backend carries IPv4 only.*"EnableIPv6" to false.*vxlan, host-gw or wireguard/,
    );
    await expect(register({}, { iface: { name: "eth0", index: 2, mtu: 1500, ipv6: "2001:db8::1" } })).rejects.toThrow(
      /eth0 has no IPv4 address.*--iface/,
    );
    const config = parseNetworkConfig(
      JSON.stringify({ Network: "10.244.0.0/16", ...dual, Backend: { Type: "udp" } }),
      "t",
    );
    expect(() => udpPlan(config, IFACE)).toThrow(/IPv4 only/);
  });

  it("does not start the device when the kernel side fails (the error reaches the daemon)", async () => {
    const kernel = new FakeUdpKernel();
    kernel.startError = new Error("UDP 192.0.2.11:8285 is already in use");
    const config = parseNetworkConfig('{"Network":"10.244.0.0/16","Backend":{"Type":"udp"}}', "t");
    const reg = udpBackend(kernel, memoryLogger()).register({
      config,
      extIface: IFACE,
      acquire: async (attrs) => ({ subnet: parseCidr("10.244.1.0/24")!, attrs }),
      log: memoryLogger(),
      signal: new AbortController().signal,
    });
    await expect(reg).rejects.toThrow(/already in use/);
  });
});

describe("udp backend lease events", () => {
  it("gives the forwarder one table per batch: peers added, our own lease skipped", async () => {
    const { kernel, nw } = await register();
    await nw.handleEvents([
      added(lease("10.244.1.0/24", "192.0.2.11")),
      added(lease("10.244.2.0/24", "192.0.2.12")),
      added(lease("10.244.3.0/24", "192.0.2.13")),
    ]);
    const dp = kernel.last;
    expect(dp.tables).toHaveLength(2);
    expect(dp.routes.map(describeRoute)).toEqual(["10.244.2.0/24 -> 192.0.2.12", "10.244.3.0/24 -> 192.0.2.13"]);
  });

  it("drops a removed peer and follows a lease that changed node, without a restart", async () => {
    const { kernel, nw } = await register();
    await nw.handleEvents([added(lease("10.244.2.0/24", "192.0.2.12")), added(lease("10.244.3.0/24", "192.0.2.13"))]);
    await nw.handleEvents([removed(lease("10.244.2.0/24", "192.0.2.12"))]);
    expect(kernel.last.routes.map(describeRoute)).toEqual(["10.244.3.0/24 -> 192.0.2.13"]);
    await nw.handleEvents([added(lease("10.244.3.0/24", "192.0.2.23"))]);
    expect(kernel.last.routes.map(describeRoute)).toEqual(["10.244.3.0/24 -> 192.0.2.23"]);
    expect(kernel.started).toHaveLength(1);
  });

  it("ignores another backend's lease with a warning and sends nothing when a batch changes nothing", async () => {
    const { kernel, nw, log } = await register();
    await nw.handleEvents([
      added(lease("10.244.4.0/24", "192.0.2.14", "vxlan")),
      removed(lease("10.244.9.0/24", "192.0.2.19")),
    ]);
    expect(kernel.last.tables).toHaveLength(1);
    expect(log.lines.join("\n")).toMatch(/ignoring peer lease.*10.244.4.0\/24.*backend type is \\"vxlan\\"/);
  });
});

describe("udp backend run loop", () => {
  it("checks the device periodically and stops the forwarder (closing flannel0) when the daemon stops", async () => {
    const { kernel, nw } = await register();
    const ac = new AbortController();
    const done = nw.run(ac.signal);
    await new Promise((r) => setTimeout(r, 30));
    expect(kernel.last.repairs).toBeGreaterThan(0);
    ac.abort();
    await done;
    expect(kernel.last.stops).toBe(1);
  });

  it("fails (so the daemon exits and restarts) when flannel0 is deleted or the forwarder crashes", async () => {
    const a = await register();
    a.kernel.last.nextRepair = { repaired: 0, present: false };
    await expect(a.nw.run(new AbortController().signal)).rejects.toThrow(/flannel0 disappeared/);
    expect(a.kernel.last.stops).toBe(1);
    const b = await register();
    const run = b.nw.run(new AbortController().signal);
    b.kernel.last.crash("udp forwarder failed: boom");
    await expect(run).rejects.toThrow(/boom/);
    expect(b.kernel.last.stops).toBe(1);
  });

  it("logs a repaired device", async () => {
    const { kernel, nw, log } = await register();
    kernel.last.nextRepair = { repaired: 2, present: true };
    const ac = new AbortController();
    const done = nw.run(ac.signal);
    await new Promise((r) => setTimeout(r, 20));
    ac.abort();
    await done;
    expect(log.lines.join("\n")).toMatch(/repaired the udp device.*changes=2/);
  });
});
