/**
 * Print results byte for byte as the reference plugins do (Go json.MarshalIndent, 4 spaces, no
 * trailing newline):
 *   - 0.x results: Go struct field order; "dns": {} always present.
 *   - 1.x results: the reference marshals through a map to drop an empty "dns", so every object's
 *     keys come out sorted; "dns" is omitted when empty.
 *   - omitempty: empty strings/lists and zero mtu/advmss/priority are left out; interface index,
 *     table and scope are printed whenever set, 0 included.
 *   - addresses in canonical form (Go's net.IP/IPNet String), HTML characters escaped as Go does.
 */
import { normalizeCIDR, normalizeIP } from "../../net/ip.ts";
import {
  familyOf,
  isDnsEmpty,
  type AnyResult,
  type Dns,
  type Result020,
  type Result040,
  type Result100,
  type Route,
} from "./result.ts";

type Json = string | number | boolean | null | Json[] | { [k: string]: Json };
type Obj = { [k: string]: Json };

const GO_ESCAPES: Readonly<Record<string, string>> = {
  "<": "\\u003c",
  ">": "\\u003e",
  "&": "\\u0026",
  "\u2028": "\\u2028",
  "\u2029": "\\u2029",
};

/** Go holds strings as UTF-8: a lone UTF-16 surrogate (from a "\ud800" escape) becomes U+FFFD. */
const wellFormed = (_key: string, v: unknown): unknown => (typeof v === "string" ? v.toWellFormed() : v);

/**
 * JSON text as Go's encoding/json writes it: JSON.stringify's layout (which matches MarshalIndent)
 * plus Go's escaping of <, >, &, U+2028 and U+2029, and U+FFFD for lone surrogates. indent 0
 * gives compact output.
 */
export function goJson(value: unknown, indent = 4): string {
  const text = JSON.stringify(value, wellFormed, indent === 0 ? undefined : indent);
  return text.replace(/[<>&\u2028\u2029]/g, (c) => GO_ESCAPES[c] ?? c);
}

const cidr = (s: string): string => normalizeCIDR(s) ?? s;
const ip = (s: string): string => normalizeIP(s) ?? s;

/** Build an object in the given key order, leaving out undefined values. */
function obj(entries: ReadonlyArray<readonly [string, Json | undefined]>): Obj {
  const out: Obj = {};
  for (const [k, v] of entries) if (v !== undefined) out[k] = v;
  return out;
}

const str = (s: string | undefined): string | undefined => (s ? s : undefined);
const nonZero = (n: number | undefined): number | undefined => (n ? n : undefined);
const list = <T>(xs: readonly T[] | undefined, f: (x: T) => Json): Json[] | undefined =>
  xs?.length ? xs.map(f) : undefined;

function dnsJson(d: Dns | undefined): Obj {
  return obj([
    ["nameservers", list(d?.nameservers, (x) => x)],
    ["domain", str(d?.domain)],
    ["search", list(d?.search, (x) => x)],
    ["options", list(d?.options, (x) => x)],
  ]);
}

function routeJson(r: Route): Obj {
  return obj([
    ["dst", cidr(r.dst)],
    ["gw", r.gw ? ip(r.gw) : undefined],
    ["mtu", nonZero(r.mtu)],
    ["advmss", nonZero(r.advmss)],
    ["priority", nonZero(r.priority)],
    ["table", r.table],
    ["scope", r.scope],
  ]);
}

function json020(r: Result020): Obj {
  const cfg = (c: Result020["ip4"]): Obj | undefined =>
    c &&
    obj([
      ["ip", cidr(c.ip)],
      ["gateway", c.gateway ? ip(c.gateway) : undefined],
      ["routes", list(c.routes, routeJson)],
    ]);
  return obj([
    ["cniVersion", str(r.cniVersion)],
    ["ip4", cfg(r.ip4)],
    ["ip6", cfg(r.ip6)],
    ["dns", dnsJson(r.dns)],
  ]);
}

function json040(r: Result040): Obj {
  return obj([
    ["cniVersion", str(r.cniVersion)],
    [
      "interfaces",
      list(r.interfaces, (i) =>
        obj([
          ["name", i.name],
          ["mac", str(i.mac)],
          ["sandbox", str(i.sandbox)],
        ]),
      ),
    ],
    [
      "ips",
      list(r.ips, (i) =>
        obj([
          ["version", i.version],
          ["interface", i.interface],
          ["address", cidr(i.address)],
          ["gateway", i.gateway ? ip(i.gateway) : undefined],
        ]),
      ),
    ],
    ["routes", list(r.routes, routeJson)],
    ["dns", dnsJson(r.dns)],
  ]);
}

function json100(r: Result100): Obj {
  const iface = (i: NonNullable<Result100["interfaces"]>[number]): Obj =>
    obj([
      ["name", i.name],
      ["mac", str(i.mac)],
      ["mtu", nonZero(i.mtu)],
      ["sandbox", str(i.sandbox)],
      ["socketPath", str(i.socketPath)],
      ["pciID", str(i.pciID)],
    ]);
  return obj([
    ["cniVersion", str(r.cniVersion)],
    ["interfaces", list(r.interfaces, iface)],
    [
      "ips",
      list(r.ips, (i) =>
        obj([
          ["interface", i.interface],
          ["address", cidr(i.address)],
          ["gateway", i.gateway ? ip(i.gateway) : undefined],
        ]),
      ),
    ],
    ["routes", list(r.routes, routeJson)],
    ["dns", isDnsEmpty(r.dns) ? undefined : dnsJson(r.dns)],
  ]);
}

/** Recursively sort object keys by byte order, as Go's map encoding does. */
function sortKeys(v: Json): Json {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v === null || typeof v !== "object") return v;
  const out: Obj = {};
  for (const k of Object.keys(v).sort()) out[k] = sortKeys(v[k] ?? null);
  return out;
}

/** The JSON object a result prints as, in output key order. */
export function resultToJson(r: AnyResult): Obj {
  switch (familyOf(r.cniVersion)) {
    case "020":
      return json020(r as Result020);
    case "040":
      return json040(r as Result040);
    default:
      return sortKeys(json100(r as Result100)) as Obj;
  }
}

/** The result as the reference prints it: 4-space indent, Go key order and omissions, no newline. */
export function formatResult(r: AnyResult): string {
  return goJson(resultToJson(r));
}
