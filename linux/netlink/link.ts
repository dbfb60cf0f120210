/**
 * Links: the typed `Link` decoded from RTM_NEWLINK, and request builders for create
 * (veth, bridge, vxlan, ipip, dummy, wireguard), set (up/down, mtu, mac, master, netns, name, promisc),
 * bridge-port hairpin and delete. Pure module.
 */
import { Attrs, type NlWriter } from "./attrs.ts";
import {
  AF_BRIDGE,
  AF_UNSPEC,
  IFF_PROMISC,
  IFF_UP,
  IFLA,
  IFLA_BRPORT,
  IFLA_BR_VLAN_FILTERING,
  IFLA_INFO,
  IFLA_IPTUN,
  IFLA_VXLAN,
  NLA_F_NESTED,
  NLM_F_CREATE,
  NLM_F_EXCL,
  OPERSTATES,
  RTM,
  VETH_INFO_PEER,
} from "./constants.ts";
import { bytesText, ipBytes } from "../../net/ip.ts";
import { formatMac, parseMac } from "../../net/mac.ts";
import type { NlMessage, NlRequest } from "./message.ts";

/** What the kernel reports for a VXLAN device. */
export interface VxlanInfo {
  readonly vni: number;
  readonly local?: string;
  readonly group?: string;
  /** Underlay device index (IFLA_VXLAN_LINK). */
  readonly underlayIndex?: number;
  /** UDP destination port; 0 means the kernel default (8472). */
  readonly port: number;
  readonly learning: boolean;
  readonly gbp: boolean;
  readonly ttl?: number;
  readonly tos?: number;
  readonly l2miss: boolean;
  readonly l3miss: boolean;
}

/** What the kernel reports for an ipip tunnel. */
export interface IpipInfo {
  /** Source address of encapsulated packets; absent = any. */
  readonly local?: string;
  /** Fixed peer; absent = any (a one-to-many tunnel, routes pick the peer). */
  readonly remote?: string;
  /** Underlay device index (IFLA_IPTUN_LINK); absent = any. */
  readonly underlayIndex?: number;
  /** 0 = inherit from the inner packet. */
  readonly ttl: number;
  /** 0 = inherit. */
  readonly tos: number;
  /** Path MTU discovery: DF set on the outer header. */
  readonly pmtudisc: boolean;
}

/** Bridge port (slave) attributes, present when the link has a bridge master. */
export interface BridgePortInfo {
  readonly hairpin: boolean;
  readonly learning?: boolean;
  readonly isolated?: boolean;
  readonly state?: number;
}

export interface Link {
  readonly index: number;
  readonly name: string;
  /** IFLA_INFO_KIND: "veth", "bridge", "vxlan", "dummy"...; "" for devices without one (lo, physical). */
  readonly kind: string;
  /** ARPHRD_* device type (1 ethernet, 772 loopback). */
  readonly type: number;
  readonly flags: number;
  readonly up: boolean;
  readonly promisc: boolean;
  readonly operState: string;
  readonly mtu: number;
  readonly mac: string;
  readonly txQueueLen?: number;
  /** Index of the master (bridge) device, if enslaved. */
  readonly masterIndex?: number;
  /** IFLA_LINK: for a veth the peer's index (in the peer's netns); for vlan/macvlan the parent. */
  readonly parentIndex?: number;
  /** netnsid (as seen from this netns) of the netns holding the peer/parent. */
  readonly linkNetnsId?: number;
  readonly slaveKind?: string;
  readonly bridgePort?: BridgePortInfo;
  readonly bridge?: { readonly vlanFiltering: boolean };
  readonly vxlan?: VxlanInfo;
  readonly ipip?: IpipInfo;
}

/** A link named by its index or its name. */
export type LinkRef = number | string;

function ifinfomsg(w: NlWriter, family: number, index: number, flags = 0, change = 0): void {
  w.u8(family).u8(0).u16(0).i32(index).u32(flags).u32(change);
}

function describe(ref: LinkRef): string {
  return typeof ref === "number" ? `index ${ref}` : ref;
}

function decodeVxlan(d: Attrs): VxlanInfo {
  const local = d.get(IFLA_VXLAN.LOCAL) ?? d.get(IFLA_VXLAN.LOCAL6);
  const group = d.get(IFLA_VXLAN.GROUP) ?? d.get(IFLA_VXLAN.GROUP6);
  const underlay = d.u32(IFLA_VXLAN.LINK);
  const ttl = d.u8(IFLA_VXLAN.TTL);
  const tos = d.u8(IFLA_VXLAN.TOS);
  return {
    vni: d.u32(IFLA_VXLAN.ID) ?? 0,
    ...(local ? { local: bytesText(local) } : {}),
    ...(group ? { group: bytesText(group) } : {}),
    ...(underlay ? { underlayIndex: underlay } : {}),
    port: d.u16be(IFLA_VXLAN.PORT) ?? 0,
    learning: (d.u8(IFLA_VXLAN.LEARNING) ?? 0) !== 0,
    gbp: d.has(IFLA_VXLAN.GBP),
    ...(ttl !== undefined ? { ttl } : {}),
    ...(tos !== undefined ? { tos } : {}),
    l2miss: (d.u8(IFLA_VXLAN.L2MISS) ?? 0) !== 0,
    l3miss: (d.u8(IFLA_VXLAN.L3MISS) ?? 0) !== 0,
  };
}

function decodeIpip(d: Attrs): IpipInfo {
  const addr = (type: number): string | undefined => {
    const b = d.get(type);
    const ip = b && b.byteLength === 4 ? bytesText(b) : undefined;
    return ip === "0.0.0.0" ? undefined : ip;
  };
  const local = addr(IFLA_IPTUN.LOCAL);
  const remote = addr(IFLA_IPTUN.REMOTE);
  const underlay = d.u32(IFLA_IPTUN.LINK);
  return {
    ...(local ? { local } : {}),
    ...(remote ? { remote } : {}),
    ...(underlay ? { underlayIndex: underlay } : {}),
    ttl: d.u8(IFLA_IPTUN.TTL) ?? 0,
    tos: d.u8(IFLA_IPTUN.TOS) ?? 0,
    pmtudisc: (d.u8(IFLA_IPTUN.PMTUDISC) ?? 1) !== 0,
  };
}

function decodeBridgePort(d: Attrs): BridgePortInfo {
  const learning = d.u8(IFLA_BRPORT.LEARNING);
  const isolated = d.u8(IFLA_BRPORT.ISOLATED);
  const state = d.u8(IFLA_BRPORT.STATE);
  return {
    hairpin: (d.u8(IFLA_BRPORT.MODE) ?? 0) !== 0,
    ...(learning !== undefined ? { learning: learning !== 0 } : {}),
    ...(isolated !== undefined ? { isolated: isolated !== 0 } : {}),
    ...(state !== undefined ? { state } : {}),
  };
}

/** Decode an RTM_NEWLINK message (reply to GETLINK or a dump entry). */
export function decodeLink(m: NlMessage): Link {
  const dv = new DataView(m.body.buffer, m.body.byteOffset, m.body.byteLength);
  const type = dv.getUint16(2, true);
  const index = dv.getInt32(4, true);
  const flags = dv.getUint32(8, true);
  const a = Attrs.parse(m.body, 16);
  const info = a.nested(IFLA.LINKINFO);
  const kind = info?.str(IFLA_INFO.KIND) ?? "";
  const slaveKind = info?.str(IFLA_INFO.SLAVE_KIND);
  const data = info?.nested(IFLA_INFO.DATA);
  const slaveData = info?.nested(IFLA_INFO.SLAVE_DATA);
  const mac = a.get(IFLA.ADDRESS);
  const master = a.u32(IFLA.MASTER);
  const parent = a.u32(IFLA.LINK);
  const netnsId = a.i32(IFLA.LINK_NETNSID);
  const txq = a.u32(IFLA.TXQLEN);
  return {
    index,
    name: a.str(IFLA.IFNAME) ?? "",
    kind,
    type,
    flags,
    up: (flags & IFF_UP) !== 0,
    promisc: (flags & IFF_PROMISC) !== 0,
    operState: OPERSTATES[a.u8(IFLA.OPERSTATE) ?? 0] ?? "unknown",
    mtu: a.u32(IFLA.MTU) ?? 0,
    mac: mac ? formatMac(mac) : "",
    ...(txq !== undefined ? { txQueueLen: txq } : {}),
    ...(master ? { masterIndex: master } : {}),
    ...(parent !== undefined ? { parentIndex: parent } : {}),
    ...(netnsId !== undefined && netnsId >= 0 ? { linkNetnsId: netnsId } : {}),
    ...(slaveKind ? { slaveKind } : {}),
    ...(slaveKind === "bridge" && slaveData ? { bridgePort: decodeBridgePort(slaveData) } : {}),
    ...(kind === "bridge" && data ? { bridge: { vlanFiltering: (data.u8(IFLA_BR_VLAN_FILTERING) ?? 0) !== 0 } } : {}),
    ...(kind === "vxlan" && data ? { vxlan: decodeVxlan(data) } : {}),
    ...(kind === "ipip" && data ? { ipip: decodeIpip(data) } : {}),
  };
}

/** Ask for one link by index or name (reply: RTM_NEWLINK, or ENODEV). */
export function getLinkRequest(ref: LinkRef): NlRequest {
  return {
    type: RTM.GETLINK,
    flags: 0,
    op: `RTM_GETLINK ${describe(ref)}`,
    fill: (w) => {
      ifinfomsg(w, AF_UNSPEC, typeof ref === "number" ? ref : 0);
      if (typeof ref === "string") w.attrStr(IFLA.IFNAME, ref);
    },
  };
}

export function dumpLinksRequest(): NlRequest {
  return { type: RTM.GETLINK, flags: 0, op: "RTM_GETLINK dump", fill: (w) => ifinfomsg(w, AF_UNSPEC, 0) };
}

/** Attributes common to a new device (and to a veth peer). */
export interface LinkCommonOptions {
  readonly name: string;
  readonly mtu?: number;
  readonly mac?: string;
  readonly txQueueLen?: number;
  /** Create the device directly in the netns open at this fd (IFLA_NET_NS_FD). */
  readonly netnsFd?: number;
}

function writeCommon(w: NlWriter, o: LinkCommonOptions): void {
  w.attrStr(IFLA.IFNAME, o.name);
  if (o.mtu) w.attrU32(IFLA.MTU, o.mtu);
  if (o.mac) w.attr(IFLA.ADDRESS, parseMac(o.mac));
  if (o.txQueueLen !== undefined) w.attrU32(IFLA.TXQLEN, o.txQueueLen);
  if (o.netnsFd !== undefined) w.attrU32(IFLA.NET_NS_FD, o.netnsFd);
}

function newLink(kind: string, o: LinkCommonOptions, data?: (w: NlWriter) => void, up = false): NlRequest {
  return {
    type: RTM.NEWLINK,
    flags: NLM_F_CREATE | NLM_F_EXCL,
    op: `RTM_NEWLINK ${kind} ${o.name}`,
    fill: (w) => {
      ifinfomsg(w, AF_UNSPEC, 0, up ? IFF_UP : 0, up ? IFF_UP : 0);
      writeCommon(w, o);
      w.nested(IFLA.LINKINFO, () => {
        w.attrStr(IFLA_INFO.KIND, kind);
        if (data) w.nested(IFLA_INFO.DATA, data);
      });
    },
  };
}

/** Options for a veth pair. */
export interface VethOptions extends LinkCommonOptions {
  /**
   * The other end; give `peer.netnsFd` to create it directly in another netns. Inherits `mtu`/`txQueueLen` when unset.
   */
  readonly peer: LinkCommonOptions;
}

export function createVethRequest(o: VethOptions): NlRequest {
  const req = newLink("veth", o, (w) => {
    w.nested(VETH_INFO_PEER, () => {
      ifinfomsg(w, AF_UNSPEC, 0);
      // Like the Go netlink library: the peer inherits MTU and queue length unless given.
      const txQueueLen = o.peer.txQueueLen ?? o.txQueueLen;
      writeCommon(w, { ...o.peer, mtu: o.peer.mtu ?? o.mtu ?? 0, ...(txQueueLen !== undefined ? { txQueueLen } : {}) });
    });
  });
  return { ...req, op: `RTM_NEWLINK veth ${o.name} peer ${o.peer.name}` };
}

/** Options for a bridge device. */
export interface BridgeOptions extends LinkCommonOptions {
  readonly vlanFiltering?: boolean;
}

export function createBridgeRequest(o: BridgeOptions): NlRequest {
  const data =
    o.vlanFiltering === undefined
      ? undefined
      : (w: NlWriter) => w.attrU8(IFLA_BR_VLAN_FILTERING, o.vlanFiltering ? 1 : 0);
  return newLink("bridge", o, data);
}

/** Options for a VXLAN device (flannel's: learning off, no group, given local IP and underlay). */
export interface VxlanOptions extends LinkCommonOptions {
  readonly vni: number;
  /** Source IP of encapsulated packets (IPv4 or IPv6). */
  readonly local?: string;
  readonly group?: string;
  /** Underlay device index. */
  readonly underlayIndex?: number;
  /** UDP destination port; 0 or unset = kernel default (8472). */
  readonly port?: number;
  /** @default false */
  readonly learning?: boolean;
  /** @default false */
  readonly gbp?: boolean;
  readonly ttl?: number;
  readonly tos?: number;
  /** @default false */
  readonly l2miss?: boolean;
  /** @default false */
  readonly l3miss?: boolean;
}

export function createVxlanRequest(o: VxlanOptions): NlRequest {
  return newLink("vxlan", o, (w) => {
    w.attrU32(IFLA_VXLAN.ID, o.vni);
    if (o.local) {
      const b = ipBytes(o.local);
      w.attr(b.byteLength === 4 ? IFLA_VXLAN.LOCAL : IFLA_VXLAN.LOCAL6, b);
    }
    if (o.group) {
      const b = ipBytes(o.group);
      w.attr(b.byteLength === 4 ? IFLA_VXLAN.GROUP : IFLA_VXLAN.GROUP6, b);
    }
    if (o.underlayIndex) w.attrU32(IFLA_VXLAN.LINK, o.underlayIndex);
    if (o.port) w.attrU16be(IFLA_VXLAN.PORT, o.port);
    w.attrU8(IFLA_VXLAN.LEARNING, o.learning ? 1 : 0);
    if (o.ttl !== undefined) w.attrU8(IFLA_VXLAN.TTL, o.ttl);
    if (o.tos !== undefined) w.attrU8(IFLA_VXLAN.TOS, o.tos);
    w.attrU8(IFLA_VXLAN.L2MISS, o.l2miss ? 1 : 0);
    w.attrU8(IFLA_VXLAN.L3MISS, o.l3miss ? 1 : 0);
    if (o.gbp) w.flag(IFLA_VXLAN.GBP);
  });
}

/** Options for an ipip tunnel (IPv4 in IPv4). */
export interface IpipOptions extends LinkCommonOptions {
  /** Source address of encapsulated packets (IPv4); unset = any. */
  readonly local?: string;
  /** Fixed peer; unset = any (one tunnel to many peers, as flannel's). */
  readonly remote?: string;
  /** Underlay device index; unset = any. */
  readonly underlayIndex?: number;
  /** @default 0 (inherit) */
  readonly ttl?: number;
  /** @default 0 (inherit) */
  readonly tos?: number;
  /** Path MTU discovery (DF on the outer header). @default true (iproute2's default) */
  readonly pmtudisc?: boolean;
}

/**
 * RTM_NEWLINK for an ipip tunnel, attribute for attribute what iproute2 sends for
 * `ip link add NAME [mtu M] type ipip [remote R] [local L] [dev D] [ttl T] [tos S] [no]pmtudisc`
 * (MTU before the name, then every IFLA_IPTUN attribute with its default), so the request can be
 * checked byte for byte against a capture of `ip` (testdata/iproute2-requests.json).
 */
export function createIpipRequest(o: IpipOptions): NlRequest {
  return {
    type: RTM.NEWLINK,
    flags: NLM_F_CREATE | NLM_F_EXCL,
    op: `RTM_NEWLINK ipip ${o.name}`,
    fill: (w) => {
      ifinfomsg(w, AF_UNSPEC, 0);
      if (o.mtu) w.attrU32(IFLA.MTU, o.mtu);
      if (o.mac) w.attr(IFLA.ADDRESS, parseMac(o.mac));
      if (o.txQueueLen !== undefined) w.attrU32(IFLA.TXQLEN, o.txQueueLen);
      if (o.netnsFd !== undefined) w.attrU32(IFLA.NET_NS_FD, o.netnsFd);
      w.attrStr(IFLA.IFNAME, o.name);
      w.nested(IFLA.LINKINFO, () => {
        // iproute2 writes the kind without its NUL (the kernel takes either)
        w.attr(IFLA_INFO.KIND, new TextEncoder().encode("ipip"));
        w.nested(IFLA_INFO.DATA, () => {
          w.attrU8(IFLA_IPTUN.PROTO, 0);
          if (o.local) w.attr(IFLA_IPTUN.LOCAL, ipv4Bytes(o.local, "local"));
          if (o.remote) w.attr(IFLA_IPTUN.REMOTE, ipv4Bytes(o.remote, "remote"));
          w.attrU8(IFLA_IPTUN.PMTUDISC, o.pmtudisc === false ? 0 : 1);
          w.attrU8(IFLA_IPTUN.TOS, o.tos ?? 0);
          w.attrU8(IFLA_IPTUN.TTL, o.ttl ?? 0);
          w.attrU32(IFLA_IPTUN.LINK, o.underlayIndex ?? 0);
          w.attrU32(IFLA_IPTUN.FWMARK, 0);
          w.attrU16(IFLA_IPTUN.ENCAP_TYPE, 0);
          w.attrU16(IFLA_IPTUN.ENCAP_FLAGS, 0);
          w.attrU16be(IFLA_IPTUN.ENCAP_SPORT, 0);
          w.attrU16be(IFLA_IPTUN.ENCAP_DPORT, 0);
        });
      });
    },
  };
}

function ipv4Bytes(ip: string, what: string): Uint8Array {
  const b = ipBytes(ip);
  if (b.byteLength !== 4) throw new Error(`ipip ${what} address must be IPv4, got ${ip}`);
  return b;
}

export function createDummyRequest(o: LinkCommonOptions): NlRequest {
  return newLink("dummy", o);
}

/** A kernel WireGuard device (kind "wireguard"); keys and peers are set over generic netlink. */
export function createWireguardRequest(o: LinkCommonOptions): NlRequest {
  return newLink("wireguard", o);
}

/** What `setLink` can change on an existing link; unset fields are left alone. */
export interface LinkChange {
  readonly up?: boolean;
  readonly promisc?: boolean;
  readonly mtu?: number;
  readonly mac?: string;
  /** Bridge master index; 0 removes the master. */
  readonly masterIndex?: number;
  readonly name?: string;
  readonly netnsFd?: number;
  readonly txQueueLen?: number;
}

export function setLinkRequest(index: number, c: LinkChange, label: string): NlRequest {
  let flags = 0;
  let change = 0;
  if (c.up !== undefined) {
    change |= IFF_UP;
    if (c.up) flags |= IFF_UP;
  }
  if (c.promisc !== undefined) {
    change |= IFF_PROMISC;
    if (c.promisc) flags |= IFF_PROMISC;
  }
  const what = Object.keys(c).join(",");
  return {
    type: RTM.SETLINK,
    flags: 0,
    op: `RTM_SETLINK ${label} ${what}`,
    fill: (w) => {
      ifinfomsg(w, AF_UNSPEC, index, flags, change);
      if (c.mtu !== undefined) w.attrU32(IFLA.MTU, c.mtu);
      if (c.mac !== undefined) w.attr(IFLA.ADDRESS, parseMac(c.mac));
      if (c.masterIndex !== undefined) w.attrU32(IFLA.MASTER, c.masterIndex);
      if (c.name !== undefined) w.attrStr(IFLA.IFNAME, c.name);
      if (c.netnsFd !== undefined) w.attrU32(IFLA.NET_NS_FD, c.netnsFd);
      if (c.txQueueLen !== undefined) w.attrU32(IFLA.TXQLEN, c.txQueueLen);
    },
  };
}

/** Bridge port settings through AF_BRIDGE + IFLA_PROTINFO (like `bridge link set ... hairpin on`). */
export interface BridgePortChange {
  readonly hairpin?: boolean;
  readonly learning?: boolean;
  readonly isolated?: boolean;
}

export function setBridgePortRequest(index: number, c: BridgePortChange, label: string): NlRequest {
  return {
    type: RTM.SETLINK,
    flags: 0,
    op: `RTM_SETLINK bridge port ${label} ${Object.keys(c).join(",")}`,
    fill: (w) => {
      ifinfomsg(w, AF_BRIDGE, index);
      w.nested(IFLA.PROTINFO | NLA_F_NESTED, () => {
        if (c.hairpin !== undefined) w.attrU8(IFLA_BRPORT.MODE, c.hairpin ? 1 : 0);
        if (c.learning !== undefined) w.attrU8(IFLA_BRPORT.LEARNING, c.learning ? 1 : 0);
        if (c.isolated !== undefined) w.attrU8(IFLA_BRPORT.ISOLATED, c.isolated ? 1 : 0);
      });
    },
  };
}

export function deleteLinkRequest(index: number, label: string): NlRequest {
  return { type: RTM.DELLINK, flags: 0, op: `RTM_DELLINK ${label}`, fill: (w) => ifinfomsg(w, AF_UNSPEC, index) };
}
