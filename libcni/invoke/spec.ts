/**
 * The spec facts the runtime side (invoke, conf, cache, api, cnitool) takes from the plugin-side
 * modules: versions (libcni/version.ts), results (libcni/types/) and name validation
 * (libcni/validate/names.ts). Everything in libcni's runtime side imports them from here, so there
 * is exactly one seam. Until those modules land, this file carries minimal stand-ins.
 */
import { CniError, ErrorCode } from "../types/error.ts";

export const CURRENT_VERSION = "1.1.0";

/** "" means 0.1.0; up to three numeric parts. Throws CniError code 6 on anything else. */
export function parseVersion(v: string): readonly [number, number, number] {
  if (v === "") return [0, 1, 0];
  const parts = v.split(".");
  if (parts.length > 3) throw new CniError(ErrorCode.DecodingFailure, `invalid version "${v}": the version can be at most 3 parts`);
  const nums = parts.map((p) => (/^\d+$/.test(p) ? Number(p) : Number.NaN));
  if (nums.some((n) => Number.isNaN(n))) throw new CniError(ErrorCode.DecodingFailure, `invalid version "${v}": each part must be a number`);
  return [nums[0] ?? 0, nums[1] ?? 0, nums[2] ?? 0];
}

export function compareVersions(a: string, b: string): number {
  const pa = parseVersion(a);
  const pb = parseVersion(b);
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return (pa[i] ?? 0) - (pb[i] ?? 0);
  return 0;
}

export function versionAtLeast(v: string, min: string): boolean {
  return compareVersions(v, min) >= 0;
}

/** A result in any spec version; only `cniVersion` is relied on here. */
export interface AnyResult {
  readonly cniVersion: string;
}

const KNOWN = ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"];
const family = (v: string): string => (v === "" || v === "0.1.0" || v === "0.2.0" ? "020" : v.startsWith("0.") ? "040" : "100");

export function parseResult(raw: unknown, fallbackVersion = ""): AnyResult {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new CniError(ErrorCode.DecodingFailure, "result must be a JSON object");
  const rv = (raw as { cniVersion?: unknown }).cniVersion;
  const v = typeof rv === "string" && rv !== "" ? rv : fallbackVersion || "0.1.0";
  if (!KNOWN.includes(v)) throw new CniError(ErrorCode.DecodingFailure, `unsupported CNI result version "${v}"`);
  return { ...(raw as object), cniVersion: v };
}

export function convertResult(r: AnyResult, toVersion: string): AnyResult {
  const to = toVersion || "0.1.0";
  if (r.cniVersion === to) return r;
  if (family(r.cniVersion) === family(to)) return { ...r, cniVersion: to };
  throw new CniError(ErrorCode.IncompatibleCNIVersion, `no converter for CNI result version ${r.cniVersion} to ${to}`);
}

/** 4-space indented JSON, no trailing newline. */
export function formatResult(r: AnyResult): string {
  return JSON.stringify(r, null, 4);
}

const ID = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

export function validateContainerID(id: string): void {
  if (id === "") throw new CniError(ErrorCode.UnknownContainer, "missing containerID");
  if (!ID.test(id)) throw new CniError(ErrorCode.InvalidEnvironmentVariables, "invalid characters in containerID", id);
}

export function validateNetworkName(name: string): void {
  if (name === "") throw new CniError(ErrorCode.InvalidNetworkConfig, "missing network name:");
  if (!ID.test(name)) throw new CniError(ErrorCode.InvalidNetworkConfig, "invalid characters found in network name", name);
}

export function validateInterfaceName(name: string): void {
  const bad = (msg: string, details = ""): CniError => new CniError(ErrorCode.InvalidEnvironmentVariables, msg, details);
  if (name === "") throw bad("interface name is empty");
  if (name.length > 15) throw bad("interface name is too long", "interface name should be less than 16 characters");
  if (name === "." || name === "..") throw bad("interface name is . or ..");
  if (/[/:\s]/u.test(name)) throw bad("interface name contains / or : or whitespace characters");
}
