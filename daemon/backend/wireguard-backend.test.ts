import { describe, expect, it } from "vitest";
import { parseNetworkConfig } from "../config.ts";
import type { ExternalInterface } from "../iface.ts";
import { parseCidr, type IpNet } from "../../net/prefix.ts";
import type { Lease, LeaseAttrs, LeaseEvent } from "../lease.ts";
import { memoryLogger } from "../testing/memory-logger.ts";
import { FakeWgOps } from "../testing/fake-wgops.ts";
import { wireguardBackend } from "./wireguard-backend.ts";

const key = (b: number) => Buffer.alloc(32, b).toString("base64");
const OWN_PRIVATE = Buffer.alloc(32, 0x40).toString("base64");
const OWN_PUBLIC = key(0xee);
const net = (s: string): IpNet => {
  const n = parseCidr(s);
  if (!n) throw new Error(s);
  return n;
};
const EXT: ExternalInterface = {
  name: "eth0",
  index: 2,
  mtu: 1500,
  ipv4: "192.0.2.11",
  ipv6: "2001:db8::11",
  publicIP: "192.0.2.11",
  publicIPv6: "2001:db8::11",
};
const DUAL = { EnableIPv6: true, IPv6Network: "fd00:10:244::/56", IPv6SubnetLen: 64 };

function peerLease(i: number, v6 = false): Lease {
  return {
    subnet: net(`10.244.${i}.0/24`),
    ...(v6 ? { subnetV6: net(`fd00:10:244:${i}::/64`) } : {}),
    attrs: {
      PublicIP: `192.0.2.${10 + i}`,
      ...(v6 ? { PublicIPv6: `2001:db8::${10 + i}` } : {}),
      BackendType: "wireguard",
      BackendData: { PublicKey: key(i), Port: 51820 },
      ...(v6 ? { BackendV6Data: { PublicKey: key(i), Port: 51821 } } : {}),
    },
  };
}
const added = (...ls: Lease[]): LeaseEvent[] => ls.map((lease) => ({ type: "added", lease }));

async function register(
  conf: Record<string, unknown> = {},
  backend: Record<string, unknown> = {},
  ops = new FakeWgOps(),
) {
  const config = parseNetworkConfig(
    JSON.stringify({ Network: "10.244.0.0/16", ...conf, Backend: { Type: "wireguard", ...backend } }),
    "test",
  );
  let published: LeaseAttrs | undefined;
  const log = memoryLogger();
  const stop = new AbortController();
  const be = wireguardBackend(ops, log, {
    reconcileMs: 20,
    keyFile: "/nonexistent/wgkey",
    loadKey: () => ({ privateKey: OWN_PRIVATE, publicKey: OWN_PUBLIC, created: false }),
  });
  const nw = await be.register({
    config,
    extIface: EXT,
    acquire: async (attrs) => {
      published = attrs;
      return {
        ...(config.enableIPv4 ? { subnet: net("10.244.1.0/24") } : {}),
        ...(config.enableIPv6 ? { subnetV6: net("fd00:10:244:1::/64") } : {}),
        attrs,
      };
    },
    log,
    signal: stop.signal,
  });
  return { ops, nw, published, log, stop };
}

const peersOf = (ops: FakeWgOps, dev: string) =>
  [...(ops.devices.get(dev)?.peers.values() ?? [])].map((p) => [p.publicKey, p.endpoint, p.allowedIps.join(",")]);

describe("wireguard backend registration", () => {
  it("creates flannel-wg with the key, port 51820 and MTU underlay - 80, and publishes the public key", async () => {
    const { ops, nw, published } = await register();
    const dev = ops.devices.get("flannel-wg");
    expect(dev).toMatchObject({
      mtu: 1420,
      privateKey: OWN_PRIVATE,
      listenPort: 51820,
      up: true,
      addrs: ["10.244.1.0/32"],
    });
    expect(ops.routes).toEqual([{ dst: "10.244.0.0/16", ifindex: dev?.index }]);
    expect(nw.mtu).toBe(1420);
    expect(published).toEqual({
      PublicIP: "192.0.2.11",
      BackendType: "wireguard",
      BackendData: { PublicKey: OWN_PUBLIC, Port: 51820 },
    });
    // the device exists (key known) before the lease is taken
    expect(ops.calls.indexOf("create flannel-wg mtu 1420")).toBe(0);
  });

  it("Backend.MTU replaces the interface MTU before the overhead is taken off", async () => {
    const { ops, nw } = await register({}, { MTU: 1400 });
    expect(ops.devices.get("flannel-wg")?.mtu).toBe(1320);
    expect(nw.mtu).toBe(1320);
  });

  it("dual stack, separate mode: flannel-wg and flannel-wg-v6 with their own port, address and route", async () => {
    const { ops, published } = await register(DUAL);
    const v6 = ops.devices.get("flannel-wg-v6");
    expect(v6).toMatchObject({ listenPort: 51821, addrs: ["fd00:10:244:1::/128"] });
    expect(ops.routes.map((r) => r.dst)).toEqual(["10.244.0.0/16", "fd00:10:244::/56"]);
    expect(published?.BackendV6Data).toEqual({ PublicKey: OWN_PUBLIC, Port: 51821 });
    expect(published?.PublicIPv6).toBe("2001:db8::11");
  });

  it("dual stack, one device (Mode auto): both addresses and routes on flannel-wg", async () => {
    const { ops } = await register(DUAL, { Mode: "auto" });
    expect(ops.devices.has("flannel-wg-v6")).toBe(false);
    expect(ops.devices.get("flannel-wg")?.addrs).toEqual(["10.244.1.0/32", "fd00:10:244:1::/128"]);
    expect(ops.routes.map((r) => r.dst)).toEqual(["10.244.0.0/16", "fd00:10:244::/56"]);
  });

  it("refuses the same port for both devices, and removes what it created when leasing fails", async () => {
    await expect(register(DUAL, { ListenPort: 5000, ListenPortV6: 5000 })).rejects.toThrow(/need different UDP ports/);
    const ops = new FakeWgOps();
    const config = parseNetworkConfig(
      JSON.stringify({ Network: "10.244.0.0/16", Backend: { Type: "wireguard" } }),
      "test",
    );
    const be = wireguardBackend(ops, memoryLogger(), {
      loadKey: () => ({ privateKey: OWN_PRIVATE, publicKey: OWN_PUBLIC, created: true }),
    });
    const reg = be.register({
      config,
      extIface: EXT,
      acquire: () => Promise.reject(new Error("etcd is down")),
      log: memoryLogger(),
      signal: new AbortController().signal,
    });
    await expect(reg).rejects.toThrow(/etcd is down/);
    expect(ops.devices.size).toBe(0);
    expect(ops.calls).toContain("remove flannel-wg");
  });

  it("a device that cannot be created fails registration with the reason", async () => {
    const ops = new FakeWgOps();
    ops.failCreate = "the kernel has no WireGuard and wireguard-go is not installed";
    await expect(register({}, {}, ops)).rejects.toThrow(/wireguard-go is not installed/);
  });
});

describe("wireguard peers follow the leases", () => {
  it("adds a peer per lease with endpoint, allowed IPs, PSK and keepalive; skips our own lease", async () => {
    const psk = key(0x33);
    const { ops, nw } = await register({}, { PSK: psk, PersistentKeepaliveInterval: 25 });
    const own: Lease = {
      subnet: net("10.244.1.0/24"),
      attrs: { PublicIP: "192.0.2.11", BackendType: "wireguard", BackendData: { PublicKey: OWN_PUBLIC, Port: 51820 } },
    };
    await nw.handleEvents(added(own, peerLease(2), peerLease(3)));
    expect(peersOf(ops, "flannel-wg")).toEqual([
      [key(2), "192.0.2.12:51820", "10.244.2.0/24"],
      [key(3), "192.0.2.13:51820", "10.244.3.0/24"],
    ]);
    const p = ops.devices.get("flannel-wg")?.peers.get(key(2));
    expect(p?.presharedKey).toBe(psk);
    expect(p?.persistentKeepalive).toBe(25);
  });

  it("removes the peer of a removed lease without touching the others, in one set operation per batch", async () => {
    const { ops, nw } = await register();
    await nw.handleEvents(added(peerLease(2), peerLease(3), peerLease(4)));
    const before = ops.calls.length;
    await nw.handleEvents([{ type: "removed", lease: peerLease(3) }]);
    expect(peersOf(ops, "flannel-wg").map(([k]) => k)).toEqual([key(2), key(4)]);
    expect(ops.calls.slice(before)).toEqual(["read flannel-wg", "configure flannel-wg 1 peers"]);
  });

  it("a lease whose endpoint changes gets the new endpoint", async () => {
    const { ops, nw } = await register();
    await nw.handleEvents(added(peerLease(2)));
    const moved = { ...peerLease(2), attrs: { ...peerLease(2).attrs, PublicIP: "192.0.2.99" } };
    await nw.handleEvents(added(moved));
    expect(peersOf(ops, "flannel-wg")).toEqual([[key(2), "192.0.2.99:51820", "10.244.2.0/24"]]);
  });

  it("dual stack separate: IPv4 peers on flannel-wg, IPv6 peers on flannel-wg-v6", async () => {
    const { ops, nw } = await register(DUAL);
    await nw.handleEvents(added(peerLease(2, true)));
    expect(peersOf(ops, "flannel-wg")).toEqual([[key(2), "192.0.2.12:51820", "10.244.2.0/24"]]);
    expect(peersOf(ops, "flannel-wg-v6")).toEqual([[key(2), "[2001:db8::12]:51821", "fd00:10:244:2::/64"]]);
  });

  it("logs a lease of another backend once and leaves it out", async () => {
    const { ops, nw, log } = await register();
    const vx: Lease = {
      subnet: net("10.244.9.0/24"),
      attrs: { PublicIP: "192.0.2.19", BackendType: "vxlan", BackendData: { VNI: 1 } },
    };
    await nw.handleEvents(added(vx));
    await nw.handleEvents(added(peerLease(2)));
    expect(peersOf(ops, "flannel-wg").map(([k]) => k)).toEqual([key(2)]);
    expect(log.lines.filter((l) => l.includes("ignoring a lease") && l.includes("10.244.9.0/24"))).toHaveLength(1);
  });
});

describe("wireguard repair and exit", () => {
  it("the periodic pass puts back a peer, the route and removes a stranger", async () => {
    const { ops, nw, stop } = await register();
    await nw.handleEvents(added(peerLease(2)));
    const dev = ops.devices.get("flannel-wg");
    if (!dev) throw new Error("no device");
    dev.peers.clear();
    await ops.configure("flannel-wg", {
      peers: [{ publicKey: key(7), endpoint: "192.0.2.17:1", allowedIps: ["10.244.7.0/24"] }],
    });
    ops.routes.splice(0);
    const running = nw.run(stop.signal);
    await new Promise((r) => setTimeout(r, 80));
    expect(peersOf(ops, "flannel-wg")).toEqual([[key(2), "192.0.2.12:51820", "10.244.2.0/24"]]);
    expect(ops.routes.map((r) => r.dst)).toEqual(["10.244.0.0/16"]);
    // for /metrics: one peer programmed; the pass rewrote two peers (one put back, one stranger removed)
    expect(nw.stats?.()).toEqual({ peers: [{ family: 4, count: 1 }], repairs: new Map([["peer_rewritten", 2]]) });
    stop.abort();
    await running;
  });

  it("a device whose wireguard-go died is recreated with its key, address, route and every peer", async () => {
    const { ops, nw, log, stop } = await register();
    await nw.handleEvents(added(peerLease(2), peerLease(3)));
    const oldIndex = ops.devices.get("flannel-wg")?.index;
    ops.kill("flannel-wg");
    await new Promise((r) => setTimeout(r, 1200)); // first retry after 1 s
    const dev = ops.devices.get("flannel-wg");
    expect(dev?.index).not.toBe(oldIndex);
    expect(dev).toMatchObject({ privateKey: OWN_PRIVATE, listenPort: 51820, addrs: ["10.244.1.0/32"] });
    expect(ops.routes).toEqual([{ dst: "10.244.0.0/16", ifindex: dev?.index }]);
    expect(peersOf(ops, "flannel-wg").map(([k]) => k)).toEqual([key(2), key(3)]);
    expect(log.lines.some((l) => l.includes("userspace WireGuard process exited") && l.includes("SIGKILL"))).toBe(true);
    stop.abort();
  });

  it("deletes its devices when the daemon stops, as flanneld does", async () => {
    const { ops, nw, stop, log } = await register(DUAL);
    const running = nw.run(stop.signal);
    stop.abort();
    await running;
    expect(ops.devices.size).toBe(0);
    expect(ops.calls.filter((c) => c.startsWith("remove"))).toEqual(["remove flannel-wg", "remove flannel-wg-v6"]);
    expect(log.lines.some((l) => l.includes("removed wireguard device flannel-wg"))).toBe(true);
  });
});
