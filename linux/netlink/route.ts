/** Routes: decode RTM_NEWROUTE, build add/replace/delete/dump/get-route-to requests. Pure module. */
import { Attrs, viewOf, type NlWriter } from "./attrs.ts";
import {
  AF_INET,
  AF_INET6,
  AF_UNSPEC,
  NLM_F_APPEND,
  NLM_F_CREATE,
  NLM_F_EXCL,
  NLM_F_REPLACE,
  RTA,
  RTAX_ADVMSS,
  RTAX_MTU,
  RTM,
  RTM_F_CLONED,
  RTN,
  RTNH_F_ONLINK,
  RTPROT,
  RT_SCOPE,
  RT_TABLE_MAIN,
} from "./constants.ts";
import { type Family, bytesText, ipBytes, prefixText, textFamily } from "../../net/ip.ts";
import type { NlMessage, NlRequest } from "./message.ts";

export type RouteType = keyof typeof RTN;
export type RouteScope = keyof typeof RT_SCOPE;

export interface NextHop {
  readonly gateway?: string;
  readonly oif?: number;
  readonly onlink: boolean;
  readonly weight: number;
}

export interface Route {
  readonly family: Family;
  /** Destination CIDR; the default route is `0.0.0.0/0` or `::/0`. */
  readonly dst: string;
  readonly gateway?: string;
  /** Output link index. */
  readonly oif?: number;
  /** Preferred source (RTA_PREFSRC). */
  readonly src?: string;
  readonly table: number;
  /** RTPROT_* number (2 kernel, 3 boot, 4 static). */
  readonly protocol: number;
  readonly scope: number;
  readonly type: RouteType | "other";
  readonly flags: number;
  readonly onlink: boolean;
  /** Metric (RTA_PRIORITY). */
  readonly priority?: number;
  readonly mtu?: number;
  readonly advmss?: number;
  readonly multipath?: readonly NextHop[];
}

/** A route to add, replace or delete. Unset fields take iproute2's defaults. */
export interface RouteSpec {
  /** Destination CIDR; "default" means 0.0.0.0/0 (or ::/0 when the gateway is IPv6). */
  readonly dst: string;
  readonly gateway?: string;
  /** Output link index. */
  readonly oif?: number;
  /** Preferred source address. */
  readonly src?: string;
  /** @default 254 (main) */
  readonly table?: number;
  /** @default "boot" on add; any on delete */
  readonly protocol?: keyof typeof RTPROT | number;
  /** @default "link" when there is no gateway (unicast), else "universe"; any on delete */
  readonly scope?: RouteScope;
  /** @default "unicast" */
  readonly type?: RouteType;
  /** Gateway need not be on a connected subnet (RTNH_F_ONLINK), as flannel's vxlan routes. */
  readonly onlink?: boolean;
  readonly priority?: number;
  readonly mtu?: number;
  readonly advmss?: number;
}

function rtmsg(
  w: NlWriter,
  r: { family: number; dstLen: number; table: number; protocol: number; scope: number; type: number; flags: number },
): void {
  w.u8(r.family)
    .u8(r.dstLen)
    .u8(0)
    .u8(0)
    .u8(r.table < 256 ? r.table : 252)
    .u8(r.protocol)
    .u8(r.scope)
    .u8(r.type)
    .u32(r.flags);
}

const TYPE_NAMES = new Map<number, RouteType>(Object.entries(RTN).map(([k, v]) => [v, k as RouteType]));

function typeName(n: number): RouteType | "other" {
  return TYPE_NAMES.get(n) ?? "other";
}

/** An address attribute as text: IPv4 straight from the buffer, IPv6 through a view. */
function ipAttr(a: Attrs, type: number): string | undefined {
  const v4 = a.ipv4(type);
  if (v4 !== undefined) return v4;
  const b = a.get(type);
  return b ? bytesText(b) : undefined;
}

function decodeMultipath(d: Uint8Array): NextHop[] {
  const dv = new DataView(d.buffer, d.byteOffset, d.byteLength);
  const out: NextHop[] = [];
  for (let off = 0; off + 8 <= d.byteLength; ) {
    const len = dv.getUint16(off, true);
    if (len < 8) break;
    const a = Attrs.parse(d, off + 8, off + len);
    const gw = a.get(RTA.GATEWAY);
    out.push({
      ...(gw ? { gateway: bytesText(gw) } : {}),
      oif: dv.getInt32(off + 4, true),
      onlink: ((d[off + 2] ?? 0) & RTNH_F_ONLINK) !== 0,
      weight: (d[off + 3] ?? 0) + 1,
    });
    off += (len + 3) & ~3;
  }
  return out;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export function decodeRoute(m: NlMessage): Route {
  const b = m.body;
  const family: Family = b[0] === AF_INET6 ? 6 : 4;
  const flags = viewOf(b).getUint32(b.byteOffset + 8, true);
  const a = Attrs.parse(b, 12);
  const dstLen = b[1] ?? 0;
  // IPv4 destination as one flat `a.b.c.d/len` string (5,000 of them per full reconcile)
  const dst =
    (family === 4 ? a.ipv4(RTA.DST, dstLen) : undefined) ??
    `${ipAttr(a, RTA.DST) ?? (family === 4 ? "0.0.0.0" : "::")}/${dstLen}`;
  const r: Mutable<Route> = {
    family,
    dst,
    table: a.u32(RTA.TABLE) ?? b[4] ?? 0,
    protocol: b[5] ?? 0,
    scope: b[6] ?? 0,
    type: typeName(b[7] ?? 0),
    flags,
    onlink: (flags & RTNH_F_ONLINK) !== 0,
  };
  const gw = ipAttr(a, RTA.GATEWAY);
  if (gw !== undefined) r.gateway = gw;
  const oif = a.u32(RTA.OIF);
  if (oif !== undefined) r.oif = oif;
  const src = ipAttr(a, RTA.PREFSRC);
  if (src !== undefined) r.src = src;
  const prio = a.u32(RTA.PRIORITY);
  if (prio !== undefined) r.priority = prio;
  if (a.has(RTA.METRICS)) {
    const metrics = a.nested(RTA.METRICS);
    const mtu = metrics?.u32(RTAX_MTU);
    const advmss = metrics?.u32(RTAX_ADVMSS);
    if (mtu !== undefined) r.mtu = mtu;
    if (advmss !== undefined) r.advmss = advmss;
  }
  const mp = a.get(RTA.MULTIPATH);
  if (mp) r.multipath = decodeMultipath(mp);
  return r;
}

/** True for routes the kernel cloned into its cache (not configured routes). */
export function isCloned(r: Route): boolean {
  return (r.flags & RTM_F_CLONED) !== 0;
}

function describe(s: RouteSpec): string {
  return [
    s.dst,
    s.gateway ? `via ${s.gateway}` : "",
    s.oif ? `oif ${s.oif}` : "",
    s.table && s.table !== RT_TABLE_MAIN ? `table ${s.table}` : "",
  ]
    .filter(Boolean)
    .join(" ");
}

function specFamily(s: RouteSpec): Family {
  if (s.dst !== "default") return textFamily(s.dst);
  return s.gateway ? textFamily(s.gateway) : 4;
}

/**
 * RTM_NEWROUTE (add: fail if present; replace: add or overwrite; append: add another next hop
 * for the same destination, ECMP for IPv6 like `ip route append`) or RTM_DELROUTE (delete).
 */
export function routeRequest(s: RouteSpec, mode: "add" | "replace" | "append" | "delete"): NlRequest {
  const family = specFamily(s);
  const dst = prefixText(s.dst === "default" ? (family === 4 ? "0.0.0.0/0" : "::/0") : s.dst);
  const del = mode === "delete";
  const type = s.type ? RTN[s.type] : del ? 0 : RTN.unicast;
  const protocol =
    typeof s.protocol === "number" ? s.protocol : s.protocol ? RTPROT[s.protocol] : del ? 0 : RTPROT.boot;
  const scope =
    s.scope !== undefined
      ? RT_SCOPE[s.scope]
      : del
        ? RT_SCOPE.nowhere
        : type === RTN.local
          ? RT_SCOPE.host
          : !s.gateway && type === RTN.unicast
            ? RT_SCOPE.link
            : RT_SCOPE.universe;
  const table = s.table ?? RT_TABLE_MAIN;
  const verb = del ? RTM.DELROUTE : RTM.NEWROUTE;
  const how = mode === "replace" || mode === "append" ? ` ${mode}` : "";
  return {
    type: verb,
    flags: del
      ? 0
      : NLM_F_CREATE | (mode === "replace" ? NLM_F_REPLACE : mode === "append" ? NLM_F_APPEND : NLM_F_EXCL),
    op: `${del ? "RTM_DELROUTE" : "RTM_NEWROUTE"}${how} ${describe(s)}`,
    fill: (w) => {
      rtmsg(w, {
        family: family === 4 ? AF_INET : AF_INET6,
        dstLen: dst.prefixLen,
        table,
        protocol,
        scope,
        type,
        flags: s.onlink ? RTNH_F_ONLINK : 0,
      });
      if (dst.prefixLen > 0 || del) w.attr(RTA.DST, ipBytes(dst.ip));
      if (s.gateway) w.attr(RTA.GATEWAY, ipBytes(s.gateway));
      if (s.oif) w.attrU32(RTA.OIF, s.oif);
      if (s.src) w.attr(RTA.PREFSRC, ipBytes(s.src));
      if (s.priority !== undefined) w.attrU32(RTA.PRIORITY, s.priority);
      if (table >= 256) w.attrU32(RTA.TABLE, table);
      if (s.mtu !== undefined || s.advmss !== undefined) {
        w.nested(RTA.METRICS, () => {
          if (s.mtu !== undefined) w.attrU32(RTAX_MTU, s.mtu);
          if (s.advmss !== undefined) w.attrU32(RTAX_ADVMSS, s.advmss);
        });
      }
    },
  };
}

export function dumpRoutesRequest(family?: Family): NlRequest {
  const af = family === 4 ? AF_INET : family === 6 ? AF_INET6 : AF_UNSPEC;
  return {
    type: RTM.GETROUTE,
    flags: 0,
    op: "RTM_GETROUTE dump",
    fill: (w) => rtmsg(w, { family: af, dstLen: 0, table: 0, protocol: 0, scope: 0, type: 0, flags: 0 }),
  };
}

/** Options for asking the kernel which route it would use. */
export interface RouteGetOptions {
  readonly oif?: number;
  readonly src?: string;
}

/** `ip route get <ip>`: the kernel's route lookup for one destination. */
export function getRouteToRequest(ip: string, o: RouteGetOptions = {}): NlRequest {
  const b = ipBytes(ip);
  return {
    type: RTM.GETROUTE,
    flags: 0,
    op: `RTM_GETROUTE to ${ip}`,
    fill: (w) => {
      rtmsg(w, {
        family: b.byteLength === 4 ? AF_INET : AF_INET6,
        dstLen: b.byteLength * 8,
        table: 0,
        protocol: 0,
        scope: 0,
        type: 0,
        flags: 0,
      });
      w.attr(RTA.DST, b);
      if (o.src) w.attr(RTA.SRC, ipBytes(o.src));
      if (o.oif) w.attrU32(RTA.OIF, o.oif);
    },
  };
}
