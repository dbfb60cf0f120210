/**
 * Pure: the delegate configuration flannel hands to bridge (or the user's plugin), built from the
 * flannel config and this node's lease exactly as the reference plugin builds it.
 */
import { CniError, ErrorCode } from "../../libcni/types/error.ts";
import { formatCidr, formatIp, parseCidr, parseIp } from "../../net/prefix.ts";
import { fieldKey, isObject, jsonType, type JsonObject } from "../shared/conf.ts";
import type { SubnetEnv } from "../../net/subnet-env.ts";
import { checkDelegateKeys, type FlannelNetConf } from "./config.ts";

/** Set `key` unless the object already has it under any letter case. */
function setDefault(obj: JsonObject, key: string, value: unknown): void {
  if (fieldKey(obj, key) === undefined) obj[key] = value;
}

/** Set `key`, dropping any other spelling of it first. */
function setOnly(obj: JsonObject, key: string, value: unknown): void {
  for (let k = fieldKey(obj, key); k !== undefined; k = fieldKey(obj, key)) delete obj[k];
  obj[key] = value;
}

/**
 * The delegate config. Refuses `delegate.name`/`delegate.ipam`/non-string `delegate.type` (code 7).
 * User keys win for type, ipMasq, mtu and isGateway; name, cniVersion (when set), ipam and
 * runtimeConfig (when set) are flannel's.
 */
export function buildDelegate(conf: FlannelNetConf, lease: SubnetEnv): JsonObject {
  checkDelegateKeys(conf.delegate);
  const d: JsonObject = structuredClone(conf.delegate ?? {});
  if (conf.runtimeConfig) setOnly(d, "runtimeConfig", structuredClone(conf.runtimeConfig));
  d["name"] = conf.name;
  setDefault(d, "type", "bridge");
  setDefault(d, "ipMasq", !lease.ipMasq);
  setDefault(d, "mtu", lease.mtu);
  if (delegateType(d) === "bridge") setDefault(d, "isGateway", true);
  if (conf.cniVersion !== "") setOnly(d, "cniVersion", conf.cniVersion);
  d["ipam"] = buildIpam(conf.ipam, lease);
  return d;
}

/** The delegate's plugin type (a string, checked by {@link buildDelegate}). */
export function delegateType(d: JsonObject): string {
  const k = fieldKey(d, "type");
  const t = k === undefined ? undefined : d[k];
  return typeof t === "string" ? t : "";
}

/**
 * The plugin types a flannel plugin config (as the runtime passes it) runs: the delegate (`bridge`
 * unless `delegate.type` says otherwise) and its IPAM (`host-local` unless `ipam.type` says otherwise).
 */
export function delegateTypes(conf: FlannelNetConf): { readonly plugin: string; readonly ipam: string } {
  const d = conf.delegate ? delegateType(conf.delegate) : "";
  const k = conf.ipam ? fieldKey(conf.ipam, "type") : undefined;
  const ipam = k !== undefined && conf.ipam ? conf.ipam[k] : undefined;
  return { plugin: d || "bridge", ipam: typeof ipam === "string" && ipam !== "" ? ipam : "host-local" };
}

/** ipam: the user's ipam with type default host-local, ranges from the lease, routes + networks. */
export function buildIpam(userIpam: JsonObject | undefined, lease: SubnetEnv): JsonObject {
  const ipam: JsonObject = structuredClone(userIpam ?? {});
  if (!Object.hasOwn(ipam, "type")) ipam["type"] = "host-local";
  const ranges: JsonObject[][] = [];
  if (lease.subnet) ranges.push([{ subnet: lease.subnet }]);
  if (lease.ipv6Subnet) ranges.push([{ subnet: lease.ipv6Subnet }]);
  ipam["ranges"] = ranges;
  const routes = Object.hasOwn(ipam, "routes") ? parseUserRoutes(ipam["routes"]) : [];
  for (const dst of [...lease.networks, ...lease.ipv6Networks]) routes.push({ dst });
  ipam["routes"] = routes;
  return ipam;
}

function routeError(detail: string): CniError {
  return new CniError(
    ErrorCode.InvalidNetworkConfig,
    `failed to assemble Delegate IPAM: failed to read IPAM routes: failed to parse ipam.routes: ${detail}`,
  );
}

const INT_KEYS = ["mtu", "advmss", "priority"] as const;
const OPT_INT_KEYS = ["table", "scope"] as const;

/**
 * User `ipam.routes`, re-encoded the way the reference's route type prints them: dst and gw in Go's
 * text form, zero mtu/advmss/priority dropped, table/scope kept when set, unknown keys dropped.
 */
export function parseUserRoutes(v: unknown): JsonObject[] {
  if (v === null) return [];
  if (!Array.isArray(v)) throw routeError(`'ipam.routes' must be an array of {"dst": "<cidr>"}, got ${jsonType(v)}`);
  return v.map((r: unknown, i) => parseUserRoute(r, i));
}

function parseUserRoute(r: unknown, i: number): JsonObject {
  if (!isObject(r)) throw routeError(`ipam.routes[${i}] must be an object, got ${jsonType(r)}`);
  const get = (k: string): unknown => {
    const key = fieldKey(r, k);
    return key === undefined ? undefined : r[key];
  };
  const dst = get("dst");
  const net = typeof dst === "string" ? parseCidr(dst) : undefined;
  if (!net)
    throw routeError(`ipam.routes[${i}].dst must be a CIDR such as "10.0.0.0/8", got ${JSON.stringify(dst ?? null)}`);
  const out: JsonObject = { dst: formatCidr(net) };
  const gw = get("gw");
  if (gw !== undefined && gw !== null && gw !== "") {
    const ip = typeof gw === "string" ? parseIp(gw) : undefined;
    if (!ip) throw routeError(`ipam.routes[${i}].gw must be an IP address, got ${JSON.stringify(gw)}`);
    out["gw"] = formatIp(ip.family, ip.ip);
  }
  for (const k of INT_KEYS) {
    const n = intOf(get(k), `ipam.routes[${i}].${k}`);
    if (n !== undefined && n !== 0) out[k] = n;
  }
  for (const k of OPT_INT_KEYS) {
    const n = intOf(get(k), `ipam.routes[${i}].${k}`);
    if (n !== undefined) out[k] = n;
  }
  return out;
}

function intOf(v: unknown, what: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isInteger(v)) throw routeError(`${what} must be an integer, got ${jsonType(v)}`);
  return v;
}
