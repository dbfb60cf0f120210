/**
 * Public surface of libcni/types: spec result shapes, conversion, Go-exact printing, result and
 * config decoding, the wire error. Listed explicitly; internals (the converter table's helpers,
 * schema walking) stay private to their modules.
 */
export { CniError, ErrorCode, isCniError, toCniError } from "./error.ts";
export type { CniErrorJson } from "./error.ts";

export type {
  AnyResult,
  Dns,
  Interface040,
  Interface100,
  IPConfig020,
  IPConfig040,
  IPConfig100,
  Result020,
  Result040,
  Result100,
  ResultFamily,
  Route,
} from "./result.ts";
export { FAMILY_VERSIONS, familyOf, isDnsEmpty, isResult020, isResult040, isResult100 } from "./result.ts";

export { CONVERTERS, convertResult, toResult100 } from "./convert.ts";
export { formatResult, goJson, resultToJson } from "./format.ts";
export { createResult, decodeVersionInfo, parsePrevResult, parseResult } from "./parse.ts";
export type { VersionInfo } from "./parse.ts";

export { decodeNetConf, decodeNetConfList, findKey, getField } from "./config.ts";
export type { GCAttachment, IpamConf, NetConf, NetConfList } from "./config.ts";

export { formatCIDR, formatIP, isIPv4Text, normalizeCIDR, normalizeIP, parseCIDR, parseIP } from "../../net/ip.ts";
export type { Cidr, IpBytes } from "../../net/ip.ts";
