import { describe, expect, it } from "vitest";
import type { WgPeerState } from "../../linux/wireguard/types.ts";
import { parseCidr } from "../../net/prefix.ts";
import type { Lease, LeaseAttrs } from "../lease.ts";
import {
  deviceSpecs,
  desiredPeers,
  diffPeers,
  peerOf,
  readLeaseData,
  selectEndpointFamily,
  wireguardLeaseAttrs,
  type DesiredPeer,
  type PeerContext,
} from "./wireguard-plan.ts";

const key = (b: number) => Buffer.alloc(32, b).toString("base64");
const net = (s: string) => {
  const n = parseCidr(s);
  if (!n) throw new Error(s);
  return n;
};
const OPTS = { mode: "separate" as const, listenPort: 51820, listenPortV6: 51821 };

function lease(i: number, o: { v6?: boolean; attrs?: Partial<LeaseAttrs>; port?: number; port6?: number } = {}): Lease {
  return {
    subnet: net(`10.244.${i}.0/24`),
    ...(o.v6 ? { subnetV6: net(`fd00:10:244:${i}::/64`) } : {}),
    attrs: {
      PublicIP: `192.0.2.${10 + i}`,
      ...(o.v6 ? { PublicIPv6: `2001:db8::${10 + i}` } : {}),
      BackendType: "wireguard",
      BackendData: { PublicKey: key(i), Port: o.port ?? 51820 },
      ...(o.v6 ? { BackendV6Data: { PublicKey: key(i), Port: o.port6 ?? 51821 } } : {}),
      ...o.attrs,
    },
  };
}

const v4dev = deviceSpecs(OPTS, true, false)[0];
const ctx = (over: Partial<PeerContext> = {}): PeerContext => {
  if (!v4dev) throw new Error("no device");
  return { mode: "separate", device: v4dev, keepalive: 0, ownPublicKey: key(1), ...over };
};

describe("devices", () => {
  it("separate mode: flannel-wg on ListenPort for IPv4, flannel-wg-v6 on ListenPortV6 for IPv6", () => {
    expect(deviceSpecs(OPTS, true, true)).toEqual([
      { name: "flannel-wg", port: 51820, families: [4] },
      { name: "flannel-wg-v6", port: 51821, families: [6] },
    ]);
    expect(deviceSpecs(OPTS, false, true)).toEqual([{ name: "flannel-wg-v6", port: 51821, families: [6] }]);
  });

  it("auto / ipv4 / ipv6: one flannel-wg on ListenPort for both families", () => {
    for (const mode of ["auto", "ipv4", "ipv6"] as const)
      expect(deviceSpecs({ ...OPTS, mode }, true, true)).toEqual([
        { name: "flannel-wg", port: 51820, families: [4, 6] },
      ]);
  });
});

describe("published lease attributes", () => {
  it("carry the public key and port per family, as flanneld's BackendData", () => {
    const a = wireguardLeaseAttrs({
      publicKey: key(1),
      options: OPTS,
      enableIPv4: true,
      enableIPv6: true,
      publicIP: "192.0.2.11",
      publicIPv6: "2001:db8::11",
    });
    expect(a).toEqual({
      PublicIP: "192.0.2.11",
      PublicIPv6: "2001:db8::11",
      BackendType: "wireguard",
      BackendData: { PublicKey: key(1), Port: 51820 },
      BackendV6Data: { PublicKey: key(1), Port: 51821 },
    });
    expect(JSON.stringify(a.BackendData)).toBe(`{"PublicKey":"${key(1)}","Port":51820}`);
  });

  it("one device: its port for IPv6 too; IPv4 off: PublicIP 0.0.0.0 and no BackendData", () => {
    const a = wireguardLeaseAttrs({
      publicKey: key(1),
      options: { ...OPTS, mode: "auto" },
      enableIPv4: true,
      enableIPv6: true,
      publicIP: "192.0.2.11",
      publicIPv6: "2001:db8::11",
    });
    expect(a.BackendV6Data).toEqual({ PublicKey: key(1), Port: 51820 });
    const v6only = wireguardLeaseAttrs({
      publicKey: key(1),
      options: OPTS,
      enableIPv4: false,
      enableIPv6: true,
      publicIPv6: "2001:db8::11",
    });
    expect(v6only.PublicIP).toBe("0.0.0.0");
    expect(v6only.BackendData).toBeUndefined();
  });

  it("are read back with Go's case-insensitive keys; a bad key or port is dropped", () => {
    expect(readLeaseData({ publickey: key(3), port: 6000 })).toEqual({ publicKey: key(3), port: 6000 });
    expect(readLeaseData({ PublicKey: "nope", Port: 70000 })).toEqual({ port: 0 });
    expect(readLeaseData("x")).toEqual({ port: 0 });
  });
});

describe("the peer of a lease", () => {
  it("separate IPv4: endpoint PublicIP:Port, allowed IP the subnet, PSK and keepalive from the config", () => {
    expect(peerOf(lease(2), ctx({ psk: key(9), keepalive: 25 }))).toEqual({
      publicKey: key(2),
      endpoint: "192.0.2.12:51820",
      allowedIps: ["10.244.2.0/24"],
      presharedKey: key(9),
      keepalive: 25,
    });
  });

  it("separate IPv6: [PublicIPv6]:BackendV6Data.Port and the IPv6 subnet", () => {
    const dev = deviceSpecs(OPTS, true, true)[1];
    if (!dev) throw new Error("no v6 device");
    expect(peerOf(lease(2, { v6: true }), ctx({ device: dev }))).toEqual({
      publicKey: key(2),
      endpoint: "[2001:db8::12]:51821",
      allowedIps: ["fd00:10:244:2::/64"],
      keepalive: 0,
    });
  });

  it("falls back to our own port when the lease has none (older flanneld)", () => {
    expect(peerOf(lease(2, { attrs: { BackendData: { PublicKey: key(2) } } }), ctx())).toMatchObject({
      endpoint: "192.0.2.12:51820",
    });
  });

  it("single device: both subnets, the endpoint family by mode, the IPv4 data's port", () => {
    const dev = deviceSpecs({ ...OPTS, mode: "ipv6" }, true, true)[0];
    if (!dev) throw new Error("no device");
    const l = lease(3, { v6: true, port6: 51821 });
    expect(peerOf(l, ctx({ mode: "ipv6", device: dev }))).toMatchObject({
      endpoint: "[2001:db8::13]:51820",
      allowedIps: ["10.244.3.0/24", "fd00:10:244:3::/64"],
    });
    expect(peerOf(l, ctx({ mode: "ipv4", device: dev }))).toMatchObject({ endpoint: "192.0.2.13:51820" });
  });

  it("skips leases of another backend, without a key, with our own key, or without an address", () => {
    expect(peerOf(lease(2, { attrs: { BackendType: "vxlan" } }), ctx())).toEqual({
      skip: 'backend type is "vxlan", not "wireguard"',
    });
    expect(peerOf(lease(2, { attrs: { BackendData: {} } }), ctx())).toMatchObject({
      skip: expect.stringMatching(/no valid PublicKey/),
    });
    expect(peerOf(lease(1), ctx())).toMatchObject({ skip: expect.stringMatching(/own public key/) });
    expect(peerOf(lease(2, { attrs: { PublicIP: "0.0.0.0" } }), ctx())).toMatchObject({
      skip: expect.stringMatching(/no IPv4 address/),
    });
  });
});

describe("auto mode's address family (flanneld's selectMode)", () => {
  it("prefers a public IPv4, then public IPv6 on both sides, else IPv4", () => {
    expect(selectEndpointFamily("192.0.2.12", undefined, "192.0.2.11", "2001:db8::11")).toBe(4);
    expect(selectEndpointFamily("192.0.2.12", "2001:db8::12", "192.0.2.11", "2001:db8::11")).toBe(4);
    expect(selectEndpointFamily("10.0.0.12", "2001:db8::12", "10.0.0.11", "2001:db8::11")).toBe(6);
    expect(selectEndpointFamily("10.0.0.12", "fd00::12", "10.0.0.11", "2001:db8::11")).toBe(4);
    expect(selectEndpointFamily("172.16.0.12", "2001:db8::12", "172.16.0.11", "fd00::11")).toBe(4);
    expect(selectEndpointFamily("192.168.1.12", "2001:db8::12", undefined, "2001:db8::11")).toBe(6);
  });
});

describe("desired peers", () => {
  it("is one peer per public key: a node's old and new leases share it, the latest gives the endpoint", () => {
    const old = lease(2);
    const moved = { ...lease(5), attrs: { ...lease(5).attrs, BackendData: { PublicKey: key(2), Port: 51820 } } };
    const { peers, skipped } = desiredPeers(
      [old, moved, lease(3), lease(4, { attrs: { BackendType: "host-gw" } })],
      ctx(),
    );
    expect([...peers.values()]).toEqual([
      { publicKey: key(2), endpoint: "192.0.2.15:51820", allowedIps: ["10.244.2.0/24", "10.244.5.0/24"], keepalive: 0 },
      { publicKey: key(3), endpoint: "192.0.2.13:51820", allowedIps: ["10.244.3.0/24"], keepalive: 0 },
    ]);
    expect(skipped).toEqual([{ lease: "10.244.4.0/24", why: 'backend type is "host-gw", not "wireguard"' }]);
  });
});

const state = (p: DesiredPeer, over: Partial<WgPeerState> = {}): WgPeerState => ({
  publicKey: p.publicKey,
  endpoint: p.endpoint,
  allowedIps: [...p.allowedIps],
  persistentKeepalive: p.keepalive,
  ...(p.presharedKey ? { presharedKey: p.presharedKey } : {}),
  lastHandshake: 0,
  rxBytes: 0n,
  txBytes: 0n,
  protocolVersion: 1,
  ...over,
});

describe("peer diffing", () => {
  const { peers } = desiredPeers([lease(2), lease(3)], ctx({ keepalive: 25 }));
  const [p2, p3] = [...peers.values()];
  if (!p2 || !p3) throw new Error("peers missing");

  it("adds missing peers whole (replacing allowed IPs) and removes unknown ones", () => {
    const stranger = state({
      publicKey: key(7),
      endpoint: "192.0.2.17:51820",
      allowedIps: ["10.244.7.0/24"],
      keepalive: 0,
    });
    expect(diffPeers(peers, [state(p2), stranger])).toEqual([
      {
        publicKey: key(3),
        endpoint: "192.0.2.13:51820",
        replaceAllowedIps: true,
        allowedIps: ["10.244.3.0/24"],
        presharedKey: null,
        persistentKeepalive: 25,
      },
      { publicKey: key(7), remove: true },
    ]);
  });

  it("writes nothing when the device already matches (allowed IPs in any order or notation)", () => {
    expect(diffPeers(peers, [state(p2), state(p3)])).toEqual([]);
  });

  it("rewrites a peer whose allowed IPs, keepalive or PSK differ", () => {
    expect(
      diffPeers(peers, [state(p2, { allowedIps: [] }), state(p3, { persistentKeepalive: 0 })]).map((c) => c.publicKey),
    ).toEqual([key(2), key(3)]);
    expect(diffPeers(peers, [state(p2, { presharedKey: key(8) }), state(p3)])).toMatchObject([
      { publicKey: key(2), presharedKey: null },
    ]);
  });

  it("keeps a roamed endpoint unless told to enforce it; a missing one is always set", () => {
    const roamed = [state(p2, { endpoint: "198.51.100.2:40000" }), state(p3)];
    expect(diffPeers(peers, roamed, () => false)).toEqual([]);
    expect(diffPeers(peers, roamed, (k) => k === key(2))).toMatchObject([
      { publicKey: key(2), endpoint: "192.0.2.12:51820" },
    ]);
    const { endpoint: _, ...noEndpoint } = state(p3);
    expect(diffPeers(peers, [state(p2), noEndpoint], () => false)).toMatchObject([
      { publicKey: key(3), endpoint: "192.0.2.13:51820" },
    ]);
  });

  it("compares IPv6 endpoints by address, not by spelling", () => {
    const dev = deviceSpecs(OPTS, true, true)[1];
    if (!dev) throw new Error("no v6 device");
    const six = desiredPeers([lease(2, { v6: true })], ctx({ device: dev })).peers;
    const [p] = [...six.values()];
    if (!p) throw new Error("no peer");
    expect(diffPeers(six, [state(p, { endpoint: "[2001:0db8:0::12]:51821" })])).toEqual([]);
  });
});
