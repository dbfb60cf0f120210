import { describe, expect, it } from "vitest";
import { Attrs } from "./attrs.ts";
import {
  AF_BRIDGE,
  IFF_PROMISC,
  IFF_UP,
  IFLA,
  IFLA_BRPORT,
  IFLA_INFO,
  IFLA_VXLAN,
  NLM_F_CREATE,
  NLM_F_EXCL,
  RTM,
  VETH_INFO_PEER,
} from "./constants.ts";
import {
  createBridgeRequest,
  createVethRequest,
  createVxlanRequest,
  decodeLink,
  deleteLinkRequest,
  getLinkRequest,
  setBridgePortRequest,
  setLinkRequest,
} from "./link.ts";
import { encodeMessage, splitMessages, type NlRequest } from "./message.ts";
import { kernelMessage } from "../testing/kernel-messages.ts";

/** Encode a request and parse it back: ifinfomsg fields + attributes. */
function roundTrip(r: NlRequest): { family: number; index: number; flags: number; change: number; attrs: Attrs } {
  const bytes = encodeMessage(r, 0, 1);
  const [m] = splitMessages(bytes, bytes.byteLength);
  if (!m) throw new Error("no message");
  const dv = new DataView(m.body.buffer, m.body.byteOffset);
  return {
    family: m.body[0] ?? -1,
    index: dv.getInt32(4, true),
    flags: dv.getUint32(8, true),
    change: dv.getUint32(12, true),
    attrs: Attrs.parse(m.body, 16),
  };
}

describe("link messages", () => {
  it("decodes a kernel veth bridge port: name, kind, MTU, MAC, peer, master and hairpin", () => {
    const l = decodeLink(kernelMessage("veth", RTM.NEWLINK));
    expect(l).toMatchObject({
      name: "vb0",
      kind: "veth",
      type: 1,
      mtu: 1450,
      mac: "02:00:00:00:00:0b",
      up: true,
      operState: "up",
      slaveKind: "bridge",
    });
    expect(l.bridgePort).toMatchObject({ hairpin: true, learning: true, isolated: false });
    expect(l.masterIndex).toBeGreaterThan(0);
    expect(l.parentIndex).toBeGreaterThan(0);
    expect(l.linkNetnsId).toBeUndefined();
  });

  it("decodes a kernel vxlan device's VNI, local address, underlay, port and learning", () => {
    const l = decodeLink(kernelMessage("vxlan", RTM.NEWLINK));
    expect(l).toMatchObject({ name: "vx1", kind: "vxlan", mac: "02:00:00:00:00:0c" });
    expect(l.vxlan).toMatchObject({
      vni: 1,
      local: "192.0.2.1",
      port: 8472,
      learning: false,
      gbp: false,
      ttl: 64,
      l2miss: false,
      l3miss: false,
    });
    expect(l.vxlan?.underlayIndex).toBeGreaterThan(0);
  });

  it("decodes a kernel bridge with vlan filtering off", () => {
    expect(decodeLink(kernelMessage("bridge", RTM.NEWLINK))).toMatchObject({
      name: "br0",
      kind: "bridge",
      bridge: { vlanFiltering: false },
    });
  });

  it("creates a veth with its peer nested in VETH_INFO_PEER, placed by IFLA_NET_NS_FD, inheriting the MTU", () => {
    const r = createVethRequest({
      name: "eth0",
      mtu: 1450,
      mac: "02:00:00:00:00:01",
      peer: { name: "veth1234", netnsFd: 7 },
    });
    expect(r.type).toBe(RTM.NEWLINK);
    expect(r.flags).toBe(NLM_F_CREATE | NLM_F_EXCL);
    expect(r.op).toBe("RTM_NEWLINK veth eth0 peer veth1234");
    const { attrs } = roundTrip(r);
    expect(attrs.str(IFLA.IFNAME)).toBe("eth0");
    expect(attrs.u32(IFLA.MTU)).toBe(1450);
    expect(attrs.has(IFLA.NET_NS_FD)).toBe(false);
    const info = attrs.nested(IFLA.LINKINFO);
    expect(info?.str(IFLA_INFO.KIND)).toBe("veth");
    const peer = info?.nested(IFLA_INFO.DATA)?.get(VETH_INFO_PEER);
    if (!peer) throw new Error("no peer");
    const peerAttrs = Attrs.parse(peer, 16);
    expect(peerAttrs.str(IFLA.IFNAME)).toBe("veth1234");
    expect(peerAttrs.u32(IFLA.NET_NS_FD)).toBe(7);
    expect(peerAttrs.u32(IFLA.MTU)).toBe(1450);
  });

  it(
    "creates a vxlan with flannel's options: VNI, local, " + "underlay, port in network order, learning off, GBP flag",
    () => {
      const { attrs } = roundTrip(
        createVxlanRequest({
          name: "flannel.1",
          vni: 1,
          local: "192.0.2.1",
          underlayIndex: 3,
          port: 8472,
          gbp: true,
          ttl: 64,
          mtu: 1450,
        }),
      );
      const d = attrs.nested(IFLA.LINKINFO)?.nested(IFLA_INFO.DATA);
      expect(d?.u32(IFLA_VXLAN.ID)).toBe(1);
      expect([...(d?.get(IFLA_VXLAN.LOCAL) ?? [])]).toEqual([192, 0, 2, 1]);
      expect(d?.u32(IFLA_VXLAN.LINK)).toBe(3);
      expect(d?.u16be(IFLA_VXLAN.PORT)).toBe(8472);
      expect(d?.u8(IFLA_VXLAN.LEARNING)).toBe(0);
      expect(d?.u8(IFLA_VXLAN.TTL)).toBe(64);
      expect(d?.has(IFLA_VXLAN.GBP)).toBe(true);
      expect(d?.has(IFLA_VXLAN.GROUP)).toBe(false);
    },
  );

  it("uses IFLA_VXLAN_LOCAL6 for an IPv6 local address", () => {
    const { attrs } = roundTrip(createVxlanRequest({ name: "flannel-v6.1", vni: 1, local: "fd00::1" }));
    const d = attrs.nested(IFLA.LINKINFO)?.nested(IFLA_INFO.DATA);
    expect(d?.get(IFLA_VXLAN.LOCAL6)?.byteLength).toBe(16);
  });

  it("sets vlan_filtering on a bridge only when asked", () => {
    expect(
      roundTrip(createBridgeRequest({ name: "cni0" }))
        .attrs.nested(IFLA.LINKINFO)
        ?.has(IFLA_INFO.DATA),
    ).toBe(false);
    expect(
      roundTrip(createBridgeRequest({ name: "cni0", vlanFiltering: true }))
        .attrs.nested(IFLA.LINKINFO)
        ?.nested(IFLA_INFO.DATA)
        ?.u8(7),
    ).toBe(1);
  });

  it(
    "changes only the flags it is asked to: " + "up sets IFF_UP in flags and change, promisc off clears IFF_PROMISC",
    () => {
      const up = roundTrip(setLinkRequest(4, { up: true }, "eth0"));
      expect([up.index, up.flags, up.change]).toEqual([4, IFF_UP, IFF_UP]);
      const off = roundTrip(setLinkRequest(4, { promisc: false, mtu: 1400, masterIndex: 0 }, "eth0"));
      expect([off.flags, off.change]).toEqual([0, IFF_PROMISC]);
      expect(off.attrs.u32(IFLA.MTU)).toBe(1400);
      expect(off.attrs.u32(IFLA.MASTER)).toBe(0);
    },
  );

  it("sets hairpin through AF_BRIDGE and a nested IFLA_PROTINFO", () => {
    const r = roundTrip(setBridgePortRequest(5, { hairpin: true }, "veth1"));
    expect(r.family).toBe(AF_BRIDGE);
    expect(r.attrs.nested(IFLA.PROTINFO)?.u8(IFLA_BRPORT.MODE)).toBe(1);
  });

  it("asks for a link by name with IFLA_IFNAME and by index in the header", () => {
    expect(roundTrip(getLinkRequest("eth0")).attrs.str(IFLA.IFNAME)).toBe("eth0");
    expect(roundTrip(getLinkRequest(9)).index).toBe(9);
    expect(deleteLinkRequest(9, "eth0").op).toBe("RTM_DELLINK eth0");
  });
});
