/**
 * Decoding results (reference create.Create / version.ParsePrevResult): pick the family from a
 * version, check the JSON's own cniVersion belongs to it, check the shape (keys matched
 * case-insensitively, unknown keys dropped, null = absent), canonicalize addresses.
 * Every failure is CniError code 6 (decoding failure) naming the field.
 */
import { CniError, ErrorCode, isCniError } from "./error.ts";
import { normalizeCIDR, normalizeIP } from "../../net/ip.ts";
import { FAMILY_VERSIONS, familyOf, type AnyResult, type ResultFamily, type Result100 } from "./result.ts";
import { toResult100 } from "./convert.ts";
import { canonicalize, decodeWith, describeValue, getField, isObject, schemaIssue } from "../validate/index.ts";
import { DEFAULT_VERSION } from "../version.ts";

const SCHEMA = { "020": "result020", "040": "result040", "100": "result100" } as const satisfies Record<
  ResultFamily,
  string
>;

const decodeError = (msg: string, details = ""): CniError => new CniError(ErrorCode.DecodingFailure, msg, details);

/** A JSON value as an object: JSON text is parsed, null is {} (as Go decodes it), else code 6. */
export function asJsonObject(raw: unknown, what: string): Record<string, unknown> {
  let v = raw;
  if (typeof raw === "string") {
    try {
      v = JSON.parse(raw);
    } catch (e) {
      throw decodeError(`${what} is not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  if (v === null || v === undefined) return {};
  if (!isObject(v)) throw decodeError(`${what} must be a JSON object, got ${describeValue(v)}`);
  return v;
}

type Fixer = (s: string, path: string) => string | undefined;

const fixCidr: Fixer = (s, path) => {
  const n = normalizeCIDR(s);
  if (n === undefined)
    throw decodeError(
      `invalid CIDR address: ${s}`,
      `"${path}" must be an IP address with a prefix length, e.g. "10.1.2.3/24"`,
    );
  return n;
};
const fixIp: Fixer = (s, path) => {
  if (s === "") return undefined;
  const n = normalizeIP(s);
  if (n === undefined)
    throw decodeError(`invalid IP address: ${s}`, `"${path}" must be an IP address, e.g. "10.1.2.1"`);
  return n;
};

/** Canonicalize the address fields of obj in place (Go parses them into net.IP / net.IPNet). */
function fixFields(obj: Record<string, unknown>, path: string, fields: Readonly<Record<string, Fixer>>): void {
  for (const [k, fix] of Object.entries(fields)) {
    const v = obj[k];
    if (typeof v !== "string") continue;
    const n = fix(v, path === "" ? k : `${path}.${k}`);
    if (n === undefined) delete obj[k];
    else obj[k] = n;
  }
}

function fixList(list: unknown, path: string, fields: Readonly<Record<string, Fixer>>): void {
  if (!Array.isArray(list)) return;
  list.forEach((item: unknown, i) => {
    if (isObject(item)) fixFields(item, `${path}[${i}]`, fields);
  });
}

const ROUTE = { dst: fixCidr, gw: fixIp };

function fixAddresses(family: ResultFamily, r: Record<string, unknown>): void {
  if (family === "020") {
    for (const k of ["ip4", "ip6"]) {
      const c = r[k];
      if (!isObject(c)) continue;
      fixFields(c, k, { ip: fixCidr, gateway: fixIp });
      fixList(c["routes"], `${k}.routes`, ROUTE);
    }
    return;
  }
  fixList(r["ips"], "ips", { address: fixCidr, gateway: fixIp });
  fixList(r["routes"], "routes", ROUTE);
}

/**
 * Go's zero value for the keys it always prints: an interface without a name has the name "",
 * a 0.3.x/0.4.0 ip without a version has the version "".
 */
function fillAlwaysPrinted(family: ResultFamily, r: Record<string, unknown>): void {
  const fill = (list: unknown, key: string): void => {
    if (Array.isArray(list)) for (const o of list) if (isObject(o) && o[key] === undefined) o[key] = "";
  };
  if (family === "020") return;
  fill(r["interfaces"], "name");
  if (family === "040") fill(r["ips"], "version");
}

/** A null in a dns string list is "" for Go (null leaves the string at its zero value). */
function nullStringsToEmpty(dns: unknown): void {
  if (!isObject(dns)) return;
  for (const k of ["nameservers", "search", "options"]) {
    const list = dns[k];
    if (Array.isArray(list)) dns[k] = list.map((v: unknown) => (v === null ? "" : v));
  }
}

const ROUTE_INTS = ["mtu", "advmss", "priority", "table", "scope"] as const;

/** Go's int range: a number outside fails to decode at all (before the version check). */
const inGoInt = (v: number): boolean => v >= -(2 ** 63) && v < 2 ** 63;

/**
 * Integers within `fits`, or code 6. Go's int takes up to 2^63-1 and prints it back exactly; a
 * number beyond 2^53 here would print as a different one, so it is refused instead.
 */
function checkIntegers(family: ResultFamily, r: Record<string, unknown>, fits: (v: number) => boolean): void {
  const check = (o: unknown, keys: readonly string[], path: string): void => {
    if (!isObject(o)) return;
    for (const k of keys) {
      const v = o[k];
      if (typeof v === "number" && !fits(v)) {
        throw decodeError(
          `invalid result: "${path}.${k}" must be an integer between ` +
            `${-Number.MAX_SAFE_INTEGER} and ${Number.MAX_SAFE_INTEGER}, got ${describeValue(v)}`,
          "numbers in a result are indexes, MTUs, route metrics, tables or scopes",
        );
      }
    }
  };
  const each = (list: unknown, keys: readonly string[], path: string): void => {
    if (Array.isArray(list)) list.forEach((item: unknown, i) => check(item, keys, `${path}[${i}]`));
  };
  if (family === "020") {
    for (const k of ["ip4", "ip6"]) each(isObject(r[k]) ? r[k]["routes"] : undefined, ROUTE_INTS, `${k}.routes`);
    return;
  }
  each(r["interfaces"], ["mtu"], "interfaces");
  each(r["ips"], ["interface"], "ips");
  each(r["routes"], ROUTE_INTS, "routes");
}

/**
 * Decode obj with the result type of `creatorVersion`'s family. Its own cniVersion must belong to
 * that family: `result type supports [1.0.0 1.1.0] but unmarshalled CNIVersion is "0.2.0"`.
 */
export function createResult(creatorVersion: string, obj: Readonly<Record<string, unknown>>): AnyResult {
  const family = familyOf(creatorVersion);
  if (!family) {
    throw decodeError(
      `unsupported CNI result version ${JSON.stringify(creatorVersion)}`,
      "use one of 0.1.0, 0.2.0, 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0",
    );
  }
  const r = canonicalize(SCHEMA[family], obj, { fold: true, keepUnknown: false }) as Record<string, unknown>;
  nullStringsToEmpty(r["dns"]);
  // Go's decoder stops at the first address that does not parse, before reporting a field of the
  // wrong type and before the version check; the same order here gives the same error.
  fixAddresses(family, r);
  const issue = schemaIssue(SCHEMA[family], r);
  if (issue) throw decodeError(`invalid result: ${issue.message}`);
  checkIntegers(family, r, inGoInt);
  fillAlwaysPrinted(family, r);
  const own = typeof r["cniVersion"] === "string" ? r["cniVersion"] : "";
  const allowed: readonly string[] = FAMILY_VERSIONS[family];
  if (!allowed.includes(own)) {
    throw decodeError(
      `result type supports [${allowed.join(" ")}] but unmarshalled CNIVersion is ${JSON.stringify(own)}`,
      `the result's cniVersion must be one of the ${creatorVersion === "" ? DEFAULT_VERSION : creatorVersion} ` +
        `family (${allowed.filter(Boolean).join(", ")})`,
    );
  }
  checkIntegers(family, r, Number.isSafeInteger);
  r["cniVersion"] = own === "" ? DEFAULT_VERSION : own;
  return r as unknown as AnyResult;
}

/**
 * Decode a plugin result (JSON text or a parsed value). A missing or empty cniVersion means
 * fallbackVersion, else "0.1.0" (what the runtime assumes of plugin output).
 */
export function parseResult(raw: unknown, fallbackVersion?: string): AnyResult {
  const obj = asJsonObject(raw, "result");
  const own = getField(obj, "cniVersion");
  if (own !== undefined && own !== null && typeof own !== "string") {
    throw decodeError(`invalid result: "cniVersion" must be a string, got ${describeValue(own)}`);
  }
  const version = own || fallbackVersion || DEFAULT_VERSION;
  return createResult(version, { ...obj, cniVersion: version });
}

/**
 * The config's prevResult as a Result100 (undefined when absent). It is decoded with the CONFIG
 * version's result type (an absent cniVersion in it means the config's), then upconverted.
 * Errors: code 6, "could not parse prevResult: ...".
 */
export function parsePrevResult(conf: Readonly<Record<string, unknown>>, confVersion: string): Result100 | undefined {
  const raw = getField(conf, "prevResult");
  if (raw === undefined || raw === null) return undefined;
  try {
    if (!isObject(raw)) throw decodeError(`"prevResult" must be an object, got ${describeValue(raw)}`);
    const own = getField(raw, "cniVersion");
    const obj = own === undefined || own === null || own === "" ? { ...raw, cniVersion: confVersion } : raw;
    return toResult100(createResult(confVersion, obj));
  } catch (e) {
    if (!isCniError(e)) throw e;
    throw new CniError(ErrorCode.DecodingFailure, `could not parse prevResult: ${e.msg}`, e.details);
  }
}

export interface VersionInfo {
  readonly cniVersion: string;
  readonly supportedVersions: readonly string[];
}

/**
 * Decode a plugin's VERSION output (reference version.PluginDecoder). A 0.2.0 answer without
 * supportedVersions means ["0.1.0", "0.2.0"].
 */
export function decodeVersionInfo(raw: unknown): VersionInfo {
  const obj = asJsonObject(raw, "version info");
  const r = decodeWith("versionInfo", obj, {
    code: ErrorCode.DecodingFailure,
    fold: true,
    keepUnknown: false,
    prefix: "decoding version info: ",
  });
  const cniVersion = typeof r["cniVersion"] === "string" ? r["cniVersion"] : "";
  if (cniVersion === "")
    throw decodeError(
      "decoding version info: missing field cniVersion",
      "the plugin's VERSION output has no cniVersion",
    );
  const supported = Array.isArray(r["supportedVersions"]) ? (r["supportedVersions"] as string[]) : [];
  if (supported.length > 0) return { cniVersion, supportedVersions: supported };
  if (cniVersion === "0.2.0") return { cniVersion, supportedVersions: ["0.1.0", "0.2.0"] };
  throw decodeError(
    "decoding version info: missing field supportedVersions",
    "the plugin's VERSION output lists no supportedVersions",
  );
}
