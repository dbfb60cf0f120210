/**
 * The node probe: `weft doctor` on one node sends a small UDP datagram to a peer's flanneld (on the
 * peer's health port number, UDP), once to the peer's overlay address (its lease subnet's network
 * address, on its flannel device: the datagram crosses the real vxlan / ipip / WireGuard path both
 * ways) and once to its public address (the underlay). What answers tells which part is broken.
 * Pure: encoding, decoding and the checks on both.
 *
 * Request: a JSON object padded with spaces to at least {@link MIN_REQUEST_BYTES}:
 *   {"weft":"probe","v":1,"id":"<16 hex digits>","from":"<the sender's lease subnet(s)>"}
 * Reply: {"weft":"probe-reply","v":1,"id":…,"subnet":…,"publicIP":…,"backend":…,"version":…,
 *   "knowsSender":true|false|null}, never larger than the request (optional fields are dropped to fit),
 * so the responder cannot be used to amplify traffic.
 */

export const PROBE_VERSION = 1;
/** Requests shorter than this are ignored; the reply is never longer than the request. */
export const MIN_REQUEST_BYTES = 256;
/** What a request is padded to. */
export const REQUEST_BYTES = 512;
/** Datagrams longer than this are ignored. */
export const MAX_REQUEST_BYTES = 1024;

export interface ProbeRequest {
  readonly id: string;
  /** The sender's lease subnet(s) as describeLease prints them ("10.244.1.0/24" or "v4,v6"). */
  readonly from: string;
}

export interface ProbeReply {
  readonly id: string;
  /** The responder's lease subnet(s). */
  readonly subnet: string;
  readonly publicIP?: string;
  readonly backend?: string;
  readonly version?: string;
  /** Whether the responder knows a lease for the sender's subnet; null when the request named none. */
  readonly knowsSender?: boolean | null;
}

const utf8 = new TextEncoder();
const utf8d = new TextDecoder("utf-8", { fatal: true });

export function encodeRequest(r: ProbeRequest): Uint8Array {
  const json = JSON.stringify({ weft: "probe", v: PROBE_VERSION, id: r.id, from: r.from });
  return utf8.encode(json.padEnd(Math.max(REQUEST_BYTES, json.length), " "));
}

function parseObject(bytes: Uint8Array): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(utf8d.decode(bytes));
    return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

const ID = /^[0-9a-f]{16}$/;

/** A request this version answers, or undefined (too short, too long, not ours). */
export function decodeRequest(bytes: Uint8Array): ProbeRequest | undefined {
  if (bytes.byteLength < MIN_REQUEST_BYTES || bytes.byteLength > MAX_REQUEST_BYTES) return undefined;
  const o = parseObject(bytes);
  if (!o || o["weft"] !== "probe" || o["v"] !== PROBE_VERSION) return undefined;
  const id = o["id"];
  const from = o["from"];
  if (typeof id !== "string" || !ID.test(id) || typeof from !== "string" || from.length > 128) return undefined;
  return { id, from };
}

/** The reply, with optional fields dropped until it fits in `limit` bytes (the request's size). */
export function encodeReply(r: ProbeReply, limit: number): Uint8Array | undefined {
  const full: Record<string, unknown> = {
    weft: "probe-reply",
    v: PROBE_VERSION,
    id: r.id,
    subnet: r.subnet,
    ...(r.knowsSender !== undefined ? { knowsSender: r.knowsSender } : {}),
    ...(r.publicIP !== undefined ? { publicIP: r.publicIP } : {}),
    ...(r.backend !== undefined ? { backend: r.backend } : {}),
    ...(r.version !== undefined ? { version: r.version } : {}),
  };
  const optional = ["version", "backend", "publicIP", "knowsSender", "subnet"];
  for (;;) {
    const bytes = utf8.encode(JSON.stringify(full));
    if (bytes.byteLength <= limit) return bytes;
    const drop = optional.shift();
    if (drop === undefined) return undefined;
    delete full[drop];
  }
}

export function decodeReply(bytes: Uint8Array): ProbeReply | undefined {
  const o = parseObject(bytes);
  if (!o || o["weft"] !== "probe-reply" || o["v"] !== PROBE_VERSION || typeof o["id"] !== "string") return undefined;
  const str = (k: string) => (typeof o[k] === "string" ? { [k]: o[k] as string } : {});
  const knows = o["knowsSender"];
  return {
    id: o["id"],
    subnet: typeof o["subnet"] === "string" ? o["subnet"] : "",
    ...str("publicIP"),
    ...str("backend"),
    ...str("version"),
    ...(typeof knows === "boolean" || knows === null ? { knowsSender: knows } : {}),
  };
}
