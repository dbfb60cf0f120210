/**
 * host-local configuration: decoded from the full plugin config (keys matched like Go's
 * encoding/json, case-insensitively), defaults applied, ranges canonicalised and checked, and
 * requested IPs gathered from CNI_ARGS `IP=`, `args.cni.ips` and `runtimeConfig.ips`. Every problem is
 * a code-7 CniError (code 4 for CNI_ARGS) whose msg is the reference's text where it has one and whose
 * details say what to change.
 */
import { CniError, ErrorCode } from "../../libcni/types/error.ts";
import { versionAtLeast } from "../../libcni/version.ts";
import { parseCniArgs } from "../shared/cni-args.ts";
import { type JsonObject, field, isObject, jsonType } from "../shared/conf.ts";
import { type IP, type IPNet, formatCIDR, formatIP, parseCIDR, parseIP } from "./ip.ts";
import { InvalidRangeError, type RangeInput, type RangeSet, canonicalizeRangeSet, setsOverlap } from "./range.ts";
import type { Attachment } from "./store.ts";

/** A route of `ipam.routes`, re-printed in the result the way Go re-encodes it. */
export interface RouteConf {
  readonly dst: string;
  readonly gw?: string;
  readonly mtu?: number;
  readonly advmss?: number;
  readonly priority?: number;
  readonly table?: number;
  readonly scope?: number;
}

export interface IpamConfig {
  /** The network name (top-level `name`): the directory under dataDir. */
  readonly name: string;
  /** The config's `cniVersion` as written. */
  readonly cniVersion: string;
  /** `ipam.dataDir`; "" means /var/lib/cni/networks. */
  readonly dataDir: string;
  /** `ipam.resolvConf`; "" means no DNS in the result. */
  readonly resolvConf: string;
  /** `runtimeConfig.ipRanges`, then legacy `ipam.subnet`..., then `ipam.ranges`; each canonical. */
  readonly ranges: readonly RangeSet[];
  readonly routes: readonly RouteConf[];
  /** Requested IPs in order CNI_ARGS, args.cni.ips, runtimeConfig.ips, duplicates removed. */
  readonly requestedIPs: readonly IP[];
}

const RANGE_KEYS = "{subnet, rangeStart, rangeEnd, gateway}";

function bad(msg: string, details = ""): CniError {
  return new CniError(ErrorCode.InvalidNetworkConfig, msg, details);
}

function optString(obj: JsonObject, key: string, where: string): string {
  const v = field(obj, key);
  if (v === undefined || v === null) return "";
  if (typeof v !== "string") throw bad(`${where}${key} must be a string, got ${jsonType(v)}`);
  return v;
}

function optObject(obj: JsonObject, key: string, where: string): JsonObject | undefined {
  const v = field(obj, key);
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) throw bad(`${where}${key} must be an object, got ${jsonType(v)}`);
  return v;
}

/** An IP-valued key: absent, null and "" mean unset (Go's net.IP decoding). */
function optIP(obj: JsonObject, key: string, where: string): IP | undefined {
  const text = optString(obj, key, where);
  if (text === "") return undefined;
  const ip = parseIP(text);
  if (ip === undefined)
    throw bad(`invalid IP address: ${text}`, `${where}${key} must be a single IPv4 or IPv6 address`);
  return ip;
}

function decodeRange(obj: unknown, where: string): RangeInput {
  if (!isObject(obj)) throw bad(`${where} must be an object ${RANGE_KEYS}, got ${jsonType(obj)}`);
  const subnetText = field(obj, "subnet");
  let subnet: IPNet | undefined;
  if (subnetText !== undefined && subnetText !== null) {
    if (typeof subnetText !== "string") throw bad(`${where}.subnet must be a string, got ${jsonType(subnetText)}`);
    subnet = parseCIDR(subnetText);
    if (subnet === undefined)
      throw bad(`invalid CIDR address: ${subnetText}`, `${where}.subnet must be a prefix such as "10.1.2.0/24"`);
  }
  return {
    subnet,
    rangeStart: optIP(obj, "rangeStart", `${where}.`),
    rangeEnd: optIP(obj, "rangeEnd", `${where}.`),
    gateway: optIP(obj, "gateway", `${where}.`),
  };
}

function decodeRangeSets(v: unknown, where: string): RangeInput[][] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v))
    throw bad(`${where} must be a list of range sets (lists of ${RANGE_KEYS}), got ${jsonType(v)}`);
  return v.map((set: unknown, i) => {
    if (set === null) return [];
    if (!Array.isArray(set)) throw bad(`${where}[${i}] must be a list of ${RANGE_KEYS}, got ${jsonType(set)}`);
    return set.map((r: unknown, j) => decodeRange(r, `${where}[${i}][${j}]`));
  });
}

function decodeRoutes(v: unknown): RouteConf[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw bad(`ipam.routes must be a list of {dst, gw}, got ${jsonType(v)}`);
  return v.map((r: unknown, i) => {
    const where = `ipam.routes[${i}]`;
    if (!isObject(r)) throw bad(`${where} must be an object {dst, gw}, got ${jsonType(r)}`);
    const dstText = optString(r, "dst", `${where}.`);
    if (dstText === "")
      throw bad(`${where}.dst is missing`, 'every route needs a destination prefix such as "0.0.0.0/0"');
    const dst = parseCIDR(dstText);
    if (dst === undefined)
      throw bad(`invalid CIDR address: ${dstText}`, `${where}.dst must be a prefix such as "0.0.0.0/0"`);
    const gw = optIP(r, "gw", `${where}.`);
    const route: { -readonly [K in keyof RouteConf]: RouteConf[K] } = { dst: formatCIDR(dst) };
    if (gw !== undefined) route.gw = formatIP(gw);
    for (const key of ["mtu", "advmss", "priority", "table", "scope"] as const) {
      const n = field(r, key);
      if (n === undefined || n === null) continue;
      if (typeof n !== "number" || !Number.isInteger(n))
        throw bad(`${where}.${key} must be an integer, got ${jsonType(n)}`);
      const max = key === "scope" ? 255 : 0xffffffff;
      if (n < 0 || n > max) throw bad(`${where}.${key} must be an integer from 0 to ${max}, got ${n}`);
      if (n !== 0 || key === "table" || key === "scope") route[key] = n;
    }
    return route;
  });
}

/**
 * Requested IPs of a list key (`args.cni.ips`, `runtimeConfig.ips`); "<ip>" or "<ip>/<prefix>".
 * An empty string decodes (as in Go) to "no address", reported later as "cannot understand ip".
 */
function decodeIPList(v: unknown, where: string): (IP | undefined)[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw bad(`${where} must be a list of IP addresses, got ${jsonType(v)}`);
  return v.map((item: unknown) => {
    if (typeof item !== "string")
      throw bad(`${where} must be a list of IP addresses, got an item of type ${jsonType(item)}`);
    if (item === "") return undefined;
    const ip = parseIPOrCIDR(item);
    if (ip === undefined)
      throw bad(`invalid IP address ${item}`, `every entry of ${where} must be an address such as "10.1.2.88"`);
    return ip;
  });
}

function parseIPOrCIDR(text: string): IP | undefined {
  return text.includes("/") ? parseCIDR(text)?.ip : parseIP(text);
}

function requestedFromCniArgs(cniArgs: string): IP[] {
  let ip: IP | undefined;
  parseCniArgs(cniArgs, ["IP"], (_key, text) => {
    ip = text === "" ? undefined : parseIPOrCIDR(text);
    if (ip === undefined && text !== "") {
      throw new CniError(
        ErrorCode.InvalidEnvironmentVariables,
        `ARGS: error parsing value of pair "IP=${text}": invalid IP address ${text}`,
        "CNI_ARGS IP= takes one address such as IP=10.1.2.88",
      );
    }
  });
  return ip ? [ip] : [];
}

function dedupe(ips: readonly IP[]): IP[] {
  const seen = new Map<string, IP>();
  for (const ip of ips) seen.set(`${ip.family}/${ip.value}`, ip);
  return [...seen.values()];
}

function canonicalSets(inputs: readonly RangeInput[][], cniVersion: string): RangeSet[] {
  if (inputs.length === 0) throw bad("no IP ranges specified", 'add "ipam": {"ranges": [[{"subnet": "10.1.2.0/24"}]]}');
  const sets = inputs.map((set, i) => {
    try {
      return canonicalizeRangeSet(set);
    } catch (e) {
      if (!(e instanceof InvalidRangeError)) throw e;
      throw bad(
        `invalid range set ${i}: ${e.message}`,
        "fix that entry of runtimeConfig.ipRanges / ipam.subnet / ipam.ranges (in that order)",
      );
    }
  });
  const v4 = sets.filter((s) => s[0]?.rangeStart.family === 4).length;
  if ((v4 > 1 || sets.length - v4 > 1) && !versionAtLeast(cniVersion || "0.1.0", "0.3.0")) {
    throw bad(
      `CNI version ${cniVersion} does not support more than 1 address per family`,
      'use cniVersion "0.3.0" or newer, or one range set per family',
    );
  }
  for (let i = 0; i < sets.length; i++) {
    for (let j = i + 1; j < sets.length; j++) {
      if (setsOverlap(sets[i] ?? [], sets[j] ?? []))
        throw bad(`range set ${i} overlaps with ${j}`, "range sets must not share addresses");
    }
  }
  return sets;
}

/** Every key host-local reads, decoded but not yet checked (what Go's json.Unmarshal yields). */
interface DecodedNet {
  readonly name: string;
  readonly cniVersion: string;
  readonly ipam: JsonObject | undefined;
  readonly dataDir: string;
  readonly resolvConf: string;
  /** runtimeConfig.ipRanges, then legacy ipam.subnet..., then ipam.ranges. */
  readonly ranges: RangeInput[][];
  readonly routes: RouteConf[];
  /** args.cni.ips then runtimeConfig.ips; undefined for an empty string. */
  readonly ips: (IP | undefined)[];
}

function decodeNet(conf: JsonObject): DecodedNet {
  const raw = field(conf, "ipam");
  if (raw !== undefined && raw !== null && !isObject(raw)) throw bad(`ipam must be an object, got ${jsonType(raw)}`);
  const ipam = isObject(raw) ? raw : undefined;
  const rt = optObject(conf, "runtimeConfig", "") ?? {};
  const args = optObject(conf, "args", "") ?? {};
  const cni = optObject(args, "cni", "args.") ?? {};
  const legacy = ipam === undefined ? undefined : decodeRange(ipam, "ipam");
  return {
    name: optString(conf, "name", ""),
    cniVersion: optString(conf, "cniVersion", ""),
    ipam,
    dataDir: ipam === undefined ? "" : optString(ipam, "dataDir", "ipam."),
    resolvConf: ipam === undefined ? "" : optString(ipam, "resolvConf", "ipam."),
    ranges: [
      ...decodeRangeSets(field(rt, "ipRanges"), "runtimeConfig.ipRanges"),
      ...(legacy?.subnet === undefined ? [] : [[legacy]]),
      ...(ipam === undefined ? [] : decodeRangeSets(field(ipam, "ranges"), "ipam.ranges")),
    ],
    routes: ipam === undefined ? [] : decodeRoutes(field(ipam, "routes")),
    ips: [...decodeIPList(field(cni, "ips"), "args.cni.ips"), ...decodeIPList(field(rt, "ips"), "runtimeConfig.ips")],
  };
}

/**
 * Decode and validate host-local's view of a plugin config (`conf` is the parsed stdin). The checks
 * run in the reference's order, so a config with several problems reports the same one: every
 * decoding error first, then a missing `ipam`, then CNI_ARGS, then empty requested IPs, then ranges.
 */
export function loadIpamConfig(conf: JsonObject, cniArgs: string): IpamConfig {
  const n = decodeNet(conf);
  if (n.ipam === undefined)
    throw bad(
      "IPAM config missing 'ipam' key",
      'add "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.1.2.0/24"}]]}',
    );
  const requested = [...requestedFromCniArgs(cniArgs), ...n.ips];
  const ips = requested.filter((ip): ip is IP => ip !== undefined);
  if (ips.length < requested.length)
    throw bad(
      'cannot understand ip: ""',
      'every entry of args.cni.ips and runtimeConfig.ips must be an address such as "10.1.2.88"',
    );
  return {
    name: n.name,
    cniVersion: n.cniVersion,
    dataDir: n.dataDir,
    resolvConf: n.resolvConf,
    ranges: canonicalSets(n.ranges, n.cniVersion),
    routes: n.routes,
    requestedIPs: dedupe(ips),
  };
}

/**
 * The attachments a GC request says are still in use: `cni.dev/valid-attachments`, or the legacy
 * `cni.dev/attachments`. Absent keys are an error rather than "nothing is valid": releasing every
 * address because a runtime forgot the key would cut off every pod.
 */
export function validAttachments(conf: JsonObject): Attachment[] {
  const key = Object.hasOwn(conf, "cni.dev/valid-attachments") ? "cni.dev/valid-attachments" : "cni.dev/attachments";
  const list = conf[key];
  if (list === undefined || list === null) {
    throw bad(
      "GC needs cni.dev/valid-attachments",
      "the runtime must list the attachments still in use; nothing was released",
    );
  }
  if (!Array.isArray(list)) throw bad(`${key} must be a list of {containerID, ifname}, got ${jsonType(list)}`);
  return list.map((a: unknown, i) => {
    const id = isObject(a) ? field(a, "containerID") : undefined;
    const ifname = isObject(a) ? field(a, "ifname") : undefined;
    if (typeof id !== "string" || typeof ifname !== "string") {
      throw bad(`${key}[${i}] must be an object {"containerID": string, "ifname": string}`, "nothing was released");
    }
    return { containerID: id, ifname };
  });
}
