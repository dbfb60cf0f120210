/**
 * Result conversion between every pair of spec versions through ONE static table keyed by
 * (from family, to family). Same version: the result itself. Rules (reference internal/convert.go):
 *   020 -> 040  ip4 then ip6 become ips[] with version "4"/"6"; routes ip4's then ip6's
 *   040 -> 020  first "4" ip -> ip4, first "6" -> ip6, routes by dst family (dst+gw only);
 *               no ip at all -> "cannot convert: no valid IP addresses"
 *   100 -> 040  version from the address family; interfaces keep name/mac/sandbox; routes whole
 *   040 -> 100  version dropped;  020 <-> 100 go through 0.4.0;  within a family: copy, new version
 */
import { CniError, ErrorCode } from "./error.ts";
import { isIPv4Text } from "../../net/ip.ts";
import {
  familyOf,
  type AnyResult,
  type Dns,
  type Result020,
  type Result040,
  type Result100,
  type ResultFamily,
  type Route,
} from "./result.ts";
import { DEFAULT_VERSION, CURRENT_VERSION } from "../version.ts";

type Converter = (from: AnyResult, to: string) => AnyResult;

function copyDns(d: Dns | undefined): Dns {
  const out: Dns = {};
  if (d?.nameservers?.length) out.nameservers = [...d.nameservers];
  if (d?.domain) out.domain = d.domain;
  if (d?.search?.length) out.search = [...d.search];
  if (d?.options?.length) out.options = [...d.options];
  return out;
}

const copyRoutes = (rs: readonly Route[] | undefined): Route[] => (rs ?? []).map((r) => ({ ...r }));

/** Drop empty lists and an empty dns block (formatting prints them the same either way). */
function prune<
  T extends { interfaces?: unknown[]; ips?: unknown[]; routes?: unknown[]; dns?: Dns; ip4?: unknown; ip6?: unknown },
>(r: T): T {
  for (const k of ["interfaces", "ips", "routes"] as const) if (r[k]?.length === 0) delete r[k];
  if (r.dns && Object.keys(r.dns).length === 0) delete r.dns;
  return r;
}

function from020to040(from: Result020, to: string): Result040 {
  const r: Result040 = { cniVersion: to as Result040["cniVersion"], ips: [], routes: [], dns: copyDns(from.dns) };
  for (const [cfg, version] of [
    [from.ip4, "4"],
    [from.ip6, "6"],
  ] as const) {
    if (!cfg) continue;
    r.ips?.push({ version, address: cfg.ip, ...(cfg.gateway ? { gateway: cfg.gateway } : {}) });
    r.routes?.push(...copyRoutes(cfg.routes));
  }
  return prune(r);
}

function from040to020(from: Result040, to: string): Result020 {
  const r: Result020 = { cniVersion: to as Result020["cniVersion"], dns: copyDns(from.dns) };
  for (const ip of from.ips ?? []) {
    const cfg = { ip: ip.address, ...(ip.gateway ? { gateway: ip.gateway } : {}) };
    if (ip.version === "4" && !r.ip4) r.ip4 = cfg;
    else if (ip.version === "6" && !r.ip6) r.ip6 = cfg;
    if (r.ip4 && r.ip6) break;
  }
  for (const route of from.routes ?? []) {
    const target = isIPv4Text(route.dst) ? r.ip4 : r.ip6;
    if (target) (target.routes ??= []).push({ dst: route.dst, ...(route.gw ? { gw: route.gw } : {}) });
  }
  prune(r);
  if (!r.ip4 && !r.ip6) {
    throw new CniError(
      ErrorCode.IncompatibleCNIVersion,
      "cannot convert: no valid IP addresses",
      `a ${to} result needs at least one IP address; use cniVersion 0.3.0 or newer for a network without IPAM`,
    );
  }
  return r;
}

function within040(from: Result040, to: string): Result040 {
  return prune({
    cniVersion: to as Result040["cniVersion"],
    interfaces: (from.interfaces ?? []).map((i) => ({ ...i })),
    ips: (from.ips ?? []).map((i) => ({ ...i })),
    routes: copyRoutes(from.routes),
    dns: copyDns(from.dns),
  });
}

function from040to100(from: Result040, to: string): Result100 {
  return prune({
    cniVersion: to as Result100["cniVersion"],
    interfaces: (from.interfaces ?? []).map(({ name, mac, sandbox }) => ({
      name,
      ...(mac ? { mac } : {}),
      ...(sandbox ? { sandbox } : {}),
    })),
    ips: (from.ips ?? []).map(({ version: _v, ...rest }) => ({ ...rest })),
    routes: copyRoutes(from.routes),
    dns: copyDns(from.dns),
  });
}

function from100to040(from: Result100, to: string): Result040 {
  return prune({
    cniVersion: to as Result040["cniVersion"],
    interfaces: (from.interfaces ?? []).map(({ name, mac, sandbox }) => ({
      name,
      ...(mac ? { mac } : {}),
      ...(sandbox ? { sandbox } : {}),
    })),
    ips: (from.ips ?? []).map((ip) => ({
      version: isIPv4Text(ip.address) ? "4" : "6",
      ...(ip.interface !== undefined ? { interface: ip.interface } : {}),
      address: ip.address,
      ...(ip.gateway ? { gateway: ip.gateway } : {}),
    })),
    routes: copyRoutes(from.routes),
    dns: copyDns(from.dns),
  });
}

function within100(from: Result100, to: string): Result100 {
  return prune({
    cniVersion: to as Result100["cniVersion"],
    interfaces: (from.interfaces ?? []).map((i) => ({ ...i })),
    ips: (from.ips ?? []).map((i) => ({ ...i })),
    routes: copyRoutes(from.routes),
    dns: copyDns(from.dns),
  });
}

function within020(from: Result020, to: string): Result020 {
  const copy = (c: Result020["ip4"]) =>
    c ? { ...c, ...(c.routes ? { routes: copyRoutes(c.routes) } : {}) } : undefined;
  const ip4 = copy(from.ip4);
  const ip6 = copy(from.ip6);
  return prune({
    cniVersion: to as Result020["cniVersion"],
    ...(ip4 ? { ip4 } : {}),
    ...(ip6 ? { ip6 } : {}),
    dns: copyDns(from.dns),
  });
}

/** The one conversion table: every (from family, to family) pair, nothing registered elsewhere. */
export const CONVERTERS: Readonly<Record<`${ResultFamily}->${ResultFamily}`, Converter>> = {
  "020->020": (r, to) => within020(r as Result020, to),
  "020->040": (r, to) => from020to040(r as Result020, to),
  "020->100": (r, to) => from040to100(from020to040(r as Result020, "0.4.0"), to),
  "040->020": (r, to) => from040to020(r as Result040, to),
  "040->040": (r, to) => within040(r as Result040, to),
  "040->100": (r, to) => from040to100(r as Result040, to),
  "100->020": (r, to) => from040to020(from100to040(r as Result100, "0.4.0"), to),
  "100->040": (r, to) => from100to040(r as Result100, to),
  "100->100": (r, to) => within100(r as Result100, to),
};

/**
 * Convert a result to another spec version ("" means 0.1.0). Same version returns r itself.
 * Throws code 1 "no converter for CNI result version X to Y" for an unknown version, and
 * "cannot convert: no valid IP addresses" for a 0.1.0/0.2.0 target without addresses.
 */
export function convertResult(r: AnyResult, toVersion: string): AnyResult {
  const to = toVersion === "" ? DEFAULT_VERSION : toVersion;
  if (r.cniVersion === to) return r;
  const fromFamily = familyOf(r.cniVersion);
  const toFamily = familyOf(to);
  if (!fromFamily || !toFamily) {
    throw new CniError(
      ErrorCode.IncompatibleCNIVersion,
      `no converter for CNI result version ${r.cniVersion} to ${to}`,
      "results convert between spec versions 0.1.0, 0.2.0, 0.3.0, 0.3.1, 0.4.0, 1.0.0 and 1.1.0",
    );
  }
  return CONVERTERS[`${fromFamily}->${toFamily}`](r, to);
}

/** Upconvert any result to the newest shape (cniVersion "1.1.0"), the one plugins compute in. */
export function toResult100(r: AnyResult): Result100 {
  return convertResult(r, CURRENT_VERSION) as Result100;
}
