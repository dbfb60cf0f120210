/**
 * CNI spec versions: the list we implement, parsing and ordering of version strings,
 * and the exact-membership reconcile rule the reference uses.
 * Tiny on purpose: the VERSION command path imports it.
 */
import { CniError, ErrorCode } from "./types/error.ts";

/** Every spec version Weft speaks, oldest first. */
export const SPEC_VERSIONS = ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"] as const;
export type SpecVersion = (typeof SPEC_VERSIONS)[number];

/** The newest spec version; what plugins print in VERSION output and compute results in. */
export const CURRENT_VERSION = "1.1.0" satisfies SpecVersion;

/** The version an absent or empty `cniVersion` means. */
export const DEFAULT_VERSION = "0.1.0" satisfies SpecVersion;

export interface ParsedVersion {
  readonly major: number;
  readonly minor: number;
  readonly micro: number;
}

const PART = /^[+-]?\d+$/;
const PART_NAMES = ["major", "minor", "micro"] as const;

/**
 * Parse "MAJOR[.MINOR[.MICRO]]" like the reference: "" means 0.1.0, missing parts are 0,
 * more than three parts or a non-integer part is a decoding error (code 6) naming the value.
 */
export function parseVersion(v: string): ParsedVersion {
  if (v === "") return { major: 0, minor: 1, micro: 0 };
  const parts = v.split(".");
  if (parts.length > 3) {
    throw new CniError(
      ErrorCode.DecodingFailure,
      `invalid version "${v}": too many parts`,
      'use MAJOR.MINOR.MICRO, e.g. "1.1.0"',
    );
  }
  const nums = [0, 0, 0];
  parts.forEach((p, i) => {
    if (!PART.test(p)) {
      throw new CniError(
        ErrorCode.DecodingFailure,
        `invalid version "${v}": ${PART_NAMES[i] ?? "micro"} part "${p}" is not an integer`,
        `use one of ${SPEC_VERSIONS.join(", ")}`,
      );
    }
    nums[i] = Number.parseInt(p, 10);
  });
  return { major: nums[0] ?? 0, minor: nums[1] ?? 0, micro: nums[2] ?? 0 };
}

/** -1, 0 or 1 as a is older than, equal to or newer than b. Throws code 6 on a bad version. */
export function compareVersions(a: string, b: string): -1 | 0 | 1 {
  const x = parseVersion(a);
  const y = parseVersion(b);
  for (const k of PART_NAMES) {
    if (x[k] !== y[k]) return x[k] < y[k] ? -1 : 1;
  }
  return 0;
}

/** v >= min, by numeric parts ("" counts as 0.1.0). Throws code 6 on a bad version. */
export function versionAtLeast(v: string, min: string): boolean {
  return compareVersions(v, min) >= 0;
}

/** True when v is one of the spec versions (exact string, no ranges). */
export function isSpecVersion(v: string): v is SpecVersion {
  return (SPEC_VERSIONS as readonly string[]).includes(v);
}

/** Exact string membership, as the reference reconciler does ("1.0" is not "1.0.0"). */
export function isSupportedVersion(v: string, supported: readonly string[] = SPEC_VERSIONS): boolean {
  return supported.includes(v);
}

/**
 * Throw code 1 "incompatible CNI versions" (details in the reference shape,
 * `config is "0.1.0", plugin supports ["4.3.2"]`) unless configVersion is supported exactly.
 */
export function reconcileVersion(configVersion: string, supported: readonly string[]): void {
  if (isSupportedVersion(configVersion, supported)) return;
  const list = `[${supported.map((s) => JSON.stringify(s)).join(" ")}]`;
  throw new CniError(
    ErrorCode.IncompatibleCNIVersion,
    "incompatible CNI versions",
    `config is ${JSON.stringify(configVersion)}, plugin supports ${list}`,
  );
}

/**
 * The version a conflist runs at (reference NetworkConfFromBytes): without `cniVersions`, `cniVersion`
 * verbatim; with it, the newest of `cniVersions` plus `cniVersion`, ignoring versions newer than
 * CURRENT_VERSION; "" when nothing is left. A malformed entry throws code 7 naming it.
 */
export function selectConfListVersion(cniVersion: string, cniVersions: readonly string[] | undefined): string {
  if (cniVersions === undefined) return cniVersion;
  const candidates: string[] = [];
  const consider = (v: string, where: string): void => {
    try {
      if (compareVersions(v, CURRENT_VERSION) <= 0) candidates.push(v);
    } catch (e) {
      const why = e instanceof CniError ? e.msg : String(e);
      throw new CniError(ErrorCode.InvalidNetworkConfig, `invalid ${where} "${v}"`, why);
    }
  };
  cniVersions.forEach((v, i) => consider(v, `cniVersions entry at index ${i}`));
  if (cniVersion !== "") consider(cniVersion, "cniVersion");
  let best = "";
  for (const v of candidates) if (best === "" || compareVersions(v, best) > 0) best = v;
  return best;
}
