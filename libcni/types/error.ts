/**
 * The one wire error of the CNI protocol: `{code, msg, details}`.
 * Every failure a user can cause maps to one of these codes with a message
 * that names the field and what to do; 999 is kept for real bugs.
 */
export const ErrorCode = {
  Unknown: 0,
  IncompatibleCNIVersion: 1,
  UnsupportedField: 2,
  UnknownContainer: 3,
  InvalidEnvironmentVariables: 4,
  IOFailure: 5,
  DecodingFailure: 6,
  InvalidNetworkConfig: 7,
  InvalidNetNS: 8,
  TryAgainLater: 11,
  PluginNotAvailable: 50,
  PluginNotAvailableLimitedConnectivity: 51,
  Internal: 999,
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export interface CniErrorJson {
  readonly cniVersion?: string;
  readonly code: number;
  readonly msg: string;
  readonly details?: string;
}

const BRAND = Symbol.for("weft.CniError");

export class CniError extends Error {
  readonly [BRAND] = true;
  override readonly name = "CniError";
  constructor(
    readonly code: number,
    readonly msg: string,
    readonly details = "",
  ) {
    super(details ? `${msg}; ${details}` : msg);
  }

  /** Go skel's shape: code, msg, details (omitted when empty). */
  toJSON(): CniErrorJson {
    return this.details
      ? { code: this.code, msg: this.msg, details: this.details }
      : { code: this.code, msg: this.msg };
  }
}

export function isCniError(e: unknown): e is CniError {
  return typeof e === "object" && e !== null && (e as { [BRAND]?: unknown })[BRAND] === true;
}

/**
 * Wrap anything thrown into a CniError. An Error carrying a numeric `cniCode` (and optionally a
 * string `cniDetails`) keeps that code, so internal error classes can choose their wire code
 * without skel knowing them; other untyped errors become 999 with their message.
 */
export function toCniError(e: unknown): CniError {
  if (isCniError(e)) return e;
  if (e instanceof Error) {
    const { cniCode, cniDetails } = e as { cniCode?: unknown; cniDetails?: unknown };
    if (typeof cniCode === "number" && Number.isInteger(cniCode)) {
      return new CniError(cniCode, e.message, typeof cniDetails === "string" ? cniDetails : "");
    }
    return new CniError(ErrorCode.Internal, e.message);
  }
  return new CniError(ErrorCode.Internal, String(e));
}
