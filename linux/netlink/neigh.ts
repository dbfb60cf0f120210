/**
 * Neighbours (ARP/NDP entries) and bridge FDB entries (AF_BRIDGE): decode RTM_NEWNEIGH and
 * build replace/append/delete/dump requests. Pure module.
 */
import { Attrs, viewOf, type NlWriter } from "./attrs.ts";
import {
  AF_BRIDGE,
  AF_INET,
  AF_INET6,
  AF_UNSPEC,
  NDA,
  NLM_F_APPEND,
  NLM_F_CREATE,
  NLM_F_EXCL,
  NLM_F_REPLACE,
  NTF_MASTER,
  NTF_SELF,
  NUD,
  RTM,
} from "./constants.ts";
import { bytesText, ipBytes } from "../../net/ip.ts";
import { formatMac, parseMac } from "../../net/mac.ts";
import type { NlMessage, NlRequest } from "./message.ts";

export type NeighState = keyof typeof NUD;

export interface Neigh {
  readonly index: number;
  /** 4, 6, or "bridge" for FDB entries. */
  readonly family: 4 | 6 | "bridge";
  /** Neighbour IP; for FDB entries the remote VTEP (`dst`) when present. */
  readonly ip?: string;
  readonly mac?: string;
  /** NUD_* bits and their names. */
  readonly state: number;
  readonly states: readonly NeighState[];
  readonly permanent: boolean;
  /** NTF_* flags. */
  readonly flags: number;
  readonly self: boolean;
  readonly master: boolean;
  readonly masterIndex?: number;
  readonly vlan?: number;
  readonly vni?: number;
  readonly port?: number;
}

function ndmsg(w: NlWriter, family: number, index: number, state: number, flags: number): void {
  w.u8(family).u8(0).u16(0).i32(index).u16(state).u8(flags).u8(0);
}

const STATE_NAMES = Object.keys(NUD) as NeighState[];
/** The names of each NUD bit set, shared and frozen: neighbours with the same state share one list. */
const STATE_LISTS = new Map<number, readonly NeighState[]>();
function stateNames(state: number): readonly NeighState[] {
  let names = STATE_LISTS.get(state);
  if (!names) {
    names = Object.freeze(STATE_NAMES.filter((k) => (state & NUD[k]) !== 0));
    STATE_LISTS.set(state, names);
  }
  return names;
}
type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export function decodeNeigh(m: NlMessage): Neigh {
  const b = m.body;
  const dv = viewOf(b);
  const fam = b[0];
  const state = dv.getUint16(b.byteOffset + 8, true);
  const flags = b[10] ?? 0;
  const a = Attrs.parse(b, 12);
  const n: Mutable<Neigh> = {
    index: dv.getInt32(b.byteOffset + 4, true),
    family: fam === AF_BRIDGE ? "bridge" : fam === AF_INET6 ? 6 : 4,
    state,
    states: stateNames(state),
    permanent: (state & NUD.permanent) !== 0,
    flags,
    self: (flags & NTF_SELF) !== 0,
    master: (flags & NTF_MASTER) !== 0,
  };
  const v4 = a.ipv4(NDA.DST);
  if (v4 !== undefined) n.ip = v4;
  else if (a.size(NDA.DST) === 16) n.ip = bytesText(a.get(NDA.DST) ?? new Uint8Array(16));
  const mac = a.mac48(NDA.LLADDR);
  if (mac !== undefined) n.mac = mac;
  else if (a.has(NDA.LLADDR)) n.mac = formatMac(a.get(NDA.LLADDR) ?? new Uint8Array(0));
  const master = a.u32(NDA.MASTER);
  if (master) n.masterIndex = master;
  const vlan = a.u16(NDA.VLAN);
  if (vlan !== undefined) n.vlan = vlan;
  const vni = a.u32(NDA.VNI);
  if (vni !== undefined) n.vni = vni;
  const port = a.u16be(NDA.PORT);
  if (port !== undefined) n.port = port;
  return n;
}

/** An ARP/NDP entry, e.g. flannel's `ip neigh replace <ip> lladdr <mac> dev flannel.1 nud permanent`. */
export interface NeighSpec {
  readonly index: number;
  readonly ip: string;
  /** Required for add/replace. */
  readonly mac?: string;
  /** @default "permanent" */
  readonly state?: NeighState;
}

export function neighRequest(s: NeighSpec, mode: "add" | "replace" | "delete", label: string): NlRequest {
  const ip = ipBytes(s.ip);
  const del = mode === "delete";
  const lladdr = s.mac ? ` lladdr ${s.mac}` : "";
  return {
    type: del ? RTM.DELNEIGH : RTM.NEWNEIGH,
    flags: del ? 0 : NLM_F_CREATE | (mode === "replace" ? NLM_F_REPLACE : NLM_F_EXCL),
    op: `${del ? "RTM_DELNEIGH" : "RTM_NEWNEIGH"}${mode === "replace" ? " replace" : ""} ${s.ip}${lladdr} dev ${label}`,
    fill: (w) => {
      ndmsg(w, ip.byteLength === 4 ? AF_INET : AF_INET6, s.index, del ? 0 : NUD[s.state ?? "permanent"], 0);
      w.attr(NDA.DST, ip);
      if (s.mac && !del) w.attr(NDA.LLADDR, parseMac(s.mac));
    },
  };
}

/** A bridge FDB entry, e.g. flannel's `bridge fdb replace <mac> dev flannel.1 dst <ip> self permanent`. */
export interface FdbSpec {
  readonly index: number;
  readonly mac: string;
  /** Remote VTEP IP (vxlan). */
  readonly dst?: string;
  /** Program the device itself (NTF_SELF). @default true */
  readonly self?: boolean;
  /** Program the bridge master's table (NTF_MASTER). @default false */
  readonly master?: boolean;
  /** @default "permanent" */
  readonly state?: NeighState;
  readonly vlan?: number;
  readonly vni?: number;
  readonly port?: number;
}

export function fdbRequest(s: FdbSpec, mode: "add" | "append" | "replace" | "delete", label: string): NlRequest {
  const del = mode === "delete";
  const ntf = ((s.self ?? true) ? NTF_SELF : 0) | (s.master ? NTF_MASTER : 0);
  const create = mode === "append" ? NLM_F_APPEND : mode === "replace" ? NLM_F_REPLACE : NLM_F_EXCL;
  const how = del ? "" : `${mode} `;
  const dst = s.dst ? ` dst ${s.dst}` : "";
  return {
    type: del ? RTM.DELNEIGH : RTM.NEWNEIGH,
    flags: del ? 0 : NLM_F_CREATE | create,
    op: `${del ? "RTM_DELNEIGH" : "RTM_NEWNEIGH"} fdb ${how}${s.mac}${dst} dev ${label}`,
    fill: (w) => {
      ndmsg(w, AF_BRIDGE, s.index, del ? 0 : NUD[s.state ?? "permanent"], ntf);
      w.attr(NDA.LLADDR, parseMac(s.mac));
      if (s.dst) w.attr(NDA.DST, ipBytes(s.dst));
      if (s.vlan !== undefined) w.attrU16(NDA.VLAN, s.vlan);
      if (s.port !== undefined) w.attrU16be(NDA.PORT, s.port);
      if (s.vni !== undefined) w.attrU32(NDA.VNI, s.vni);
    },
  };
}

/**
 * Dump neighbours of one family (4, 6), all IP neighbours (undefined), or the FDB ("bridge").
 * With `ifindex` the kernel sends only that device's entries: IP neighbours by NDA_IFINDEX
 * (Linux 4.16+; older kernels ignore it), the FDB by an ifinfomsg naming the port, as
 * `bridge fdb show dev X` asks. Callers still filter: an older kernel may send everything.
 */
export function dumpNeighsRequest(family?: 4 | 6 | "bridge", ifindex?: number): NlRequest {
  const af = family === "bridge" ? AF_BRIDGE : family === 4 ? AF_INET : family === 6 ? AF_INET6 : AF_UNSPEC;
  const filtered = ifindex !== undefined && ifindex > 0;
  return {
    type: RTM.GETNEIGH,
    flags: 0,
    op: family === "bridge" ? "RTM_GETNEIGH fdb dump" : "RTM_GETNEIGH dump",
    fill: (w) => {
      if (!filtered) return ndmsg(w, af, 0, 0, 0);
      // ifinfomsg: family, pad, type, index, flags, change
      if (family === "bridge") return void w.u8(af).u8(0).u16(0).i32(ifindex).u32(0).u32(0);
      ndmsg(w, af, 0, 0, 0);
      w.attrU32(NDA.IFINDEX, ifindex);
    },
  };
}
