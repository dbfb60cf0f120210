/** Addresses: decode RTM_NEWADDR, build add/replace/delete/dump requests (IPv4 and IPv6). Pure module. */
import { Attrs, type NlWriter } from "./attrs.ts";
import {
  AF_INET,
  AF_INET6,
  AF_UNSPEC,
  IFA,
  IFA_F_DADFAILED,
  IFA_F_NODAD,
  IFA_F_NOPREFIXROUTE,
  IFA_F_PERMANENT,
  IFA_F_TENTATIVE,
  NLM_F_CREATE,
  NLM_F_EXCL,
  NLM_F_REPLACE,
  RTM,
  RT_SCOPE,
} from "./constants.ts";
import { type Family, type PrefixText, broadcastOf, bytesText, ipBytes, prefixText } from "../../net/ip.ts";
import type { NlMessage, NlRequest } from "./message.ts";

export interface Address {
  /** Index of the link holding the address. */
  readonly index: number;
  readonly family: Family;
  readonly ip: string;
  readonly prefixLen: number;
  /** IPv4 peer/IFA_ADDRESS when it differs from the local address. */
  readonly peer?: string;
  readonly broadcast?: string;
  readonly label?: string;
  /** RT_SCOPE_* (0 universe/global, 253 link, 254 host). */
  readonly scope: number;
  /** IFA_F_* flags. */
  readonly flags: number;
  readonly permanent: boolean;
  readonly tentative: boolean;
  readonly dadFailed: boolean;
}

/** Options for adding an address. */
export interface AddrOptions {
  /** The address with its prefix, `10.244.1.1/24` or `{ip, prefixLen}`. */
  readonly cidr: string | PrefixText;
  /**
   * IPv4 broadcast: "auto" computes it (all host bits set) for prefixes shorter than /31, like
   * `ip addr add ... brd +` and the Go netlink library; "none" omits it. @default "auto"
   */
  readonly broadcast?: string;
  /** @default universe (host for 127.0.0.0/8 and ::1, like iproute2) */
  readonly scope?: keyof typeof RT_SCOPE;
  readonly label?: string;
  /** IPv6: skip duplicate address detection (IFA_F_NODAD). */
  readonly noDad?: boolean;
  /** Do not add the prefix route for the address (IFA_F_NOPREFIXROUTE). */
  readonly noPrefixRoute?: boolean;
  /** IPv4 point-to-point peer address. */
  readonly peer?: string;
}

function ifaddrmsg(w: NlWriter, family: number, prefixLen: number, flags: number, scope: number, index: number): void {
  w.u8(family)
    .u8(prefixLen)
    .u8(flags & 0xff)
    .u8(scope)
    .u32(index);
}

export function decodeAddress(m: NlMessage): Address {
  const b = m.body;
  const family: Family = b[0] === AF_INET6 ? 6 : 4;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const a = Attrs.parse(b, 8);
  const local = a.get(IFA.LOCAL);
  const address = a.get(IFA.ADDRESS);
  const main = local ?? address;
  const flags = a.u32(IFA.FLAGS) ?? b[2] ?? 0;
  const peer = local && address && bytesText(local) !== bytesText(address) ? bytesText(address) : undefined;
  const brd = a.get(IFA.BROADCAST);
  const label = a.str(IFA.LABEL);
  return {
    index: dv.getUint32(4, true),
    family,
    ip: main ? bytesText(main) : "",
    prefixLen: b[1] ?? 0,
    ...(peer ? { peer } : {}),
    ...(brd ? { broadcast: bytesText(brd) } : {}),
    ...(label ? { label } : {}),
    scope: b[3] ?? 0,
    flags,
    permanent: (flags & IFA_F_PERMANENT) !== 0,
    tentative: (flags & IFA_F_TENTATIVE) !== 0,
    dadFailed: (flags & IFA_F_DADFAILED) !== 0,
  };
}

function toCidr(c: string | PrefixText): PrefixText {
  return typeof c === "string" ? prefixText(c) : prefixText(`${c.ip}/${c.prefixLen}`);
}

function defaultScope(ip: Uint8Array): number {
  const loop4 = ip.byteLength === 4 && ip[0] === 127;
  const loop6 = ip.byteLength === 16 && ip.every((x, i) => (i === 15 ? x === 1 : x === 0));
  return loop4 || loop6 ? RT_SCOPE.host : RT_SCOPE.universe;
}

/** RTM_NEWADDR; `replace` updates an existing address instead of failing with EEXIST. */
export function addAddrRequest(index: number, o: AddrOptions, replace: boolean, label: string): NlRequest {
  const c = toCidr(o.cidr);
  const ip = ipBytes(c.ip);
  const v4 = ip.byteLength === 4;
  const flags = (o.noDad ? IFA_F_NODAD : 0) | (o.noPrefixRoute ? IFA_F_NOPREFIXROUTE : 0);
  const scope = o.scope !== undefined ? RT_SCOPE[o.scope] : defaultScope(ip);
  return {
    type: RTM.NEWADDR,
    flags: NLM_F_CREATE | (replace ? NLM_F_REPLACE : NLM_F_EXCL),
    op: `RTM_NEWADDR ${c.ip}/${c.prefixLen} dev ${label}`,
    fill: (w) => {
      ifaddrmsg(w, v4 ? AF_INET : AF_INET6, c.prefixLen, flags, scope, index);
      w.attr(IFA.LOCAL, ip);
      w.attr(IFA.ADDRESS, o.peer ? ipBytes(o.peer) : ip);
      if (v4) {
        const brd = o.broadcast ?? "auto";
        if (brd === "auto") {
          if (c.prefixLen < 31) w.attr(IFA.BROADCAST, broadcastOf(ip, c.prefixLen));
        } else if (brd !== "none") {
          w.attr(IFA.BROADCAST, ipBytes(brd));
        }
      }
      if (o.label) w.attrStr(IFA.LABEL, o.label);
      if (flags > 0xff) w.attrU32(IFA.FLAGS, flags);
    },
  };
}

export function deleteAddrRequest(index: number, cidr: string | PrefixText, label: string): NlRequest {
  const c = toCidr(cidr);
  const ip = ipBytes(c.ip);
  return {
    type: RTM.DELADDR,
    flags: 0,
    op: `RTM_DELADDR ${c.ip}/${c.prefixLen} dev ${label}`,
    fill: (w) => {
      ifaddrmsg(w, ip.byteLength === 4 ? AF_INET : AF_INET6, c.prefixLen, 0, 0, index);
      w.attr(IFA.LOCAL, ip);
      if (ip.byteLength === 4) w.attr(IFA.ADDRESS, ip);
    },
  };
}

export function dumpAddrsRequest(family?: Family): NlRequest {
  const af = family === 4 ? AF_INET : family === 6 ? AF_INET6 : AF_UNSPEC;
  return { type: RTM.GETADDR, flags: 0, op: "RTM_GETADDR dump", fill: (w) => ifaddrmsg(w, af, 0, 0, 0, 0) };
}
