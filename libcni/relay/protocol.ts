/**
 * The CNI relay protocol: how a plugin exec hands its call to a warm daemon on the same node over a
 * unix stream socket, and gets back exactly what it would have printed. Pure: frames in and out,
 * no I/O. One connection carries one call:
 *
 *   client -> daemon   request frame, the pod netns fd attached to its first byte (SCM_RIGHTS)
 *   daemon -> client   OFFER (one byte), or a REFUSE frame with a reason (the client runs the call itself)
 *   client -> daemon   GO (one byte): from here on the call belongs to the daemon, never run twice
 *   daemon -> client   RESULT frame: exit code, stdout and stderr bytes
 *
 * Request frame (little endian):
 *   0  "WCNI"   4  version (1)   5  flags   6  netns open errno (u16)   8  env length (u32)
 *   12 stdin length (u32)   16 env: a JSON object of strings   then stdin: the plugin's stdin bytes
 * flags: bit 0 a netns fd is attached; bit 1 CNI_NETNS is the caller's own network namespace.
 */

export const MAGIC = "WCNI";
export const VERSION = 1;
export const HEADER_BYTES = 16;
/** Requests larger than this (env + stdin) are refused. */
export const MAX_REQUEST_BYTES = 1024 * 1024;

export const OFFER = 0x01;
export const REFUSE = 0x02;
export const GO = 0x03;
export const RESULT = 0x04;

export const FLAG_NETNS_FD = 1;
export const FLAG_OWN_NETNS = 2;

/** A call as the daemon receives it (the fd travels beside the bytes). */
export interface RelayRequest {
  readonly env: Readonly<Record<string, string>>;
  readonly stdin: Uint8Array;
  /** A netns fd came with the request. */
  readonly hasNetnsFd: boolean;
  /** CNI_NETNS is the network namespace the calling plugin runs in. */
  readonly ownNetns: boolean;
  /** errno of opening CNI_NETNS in the caller (0: opened, or no CNI_NETNS). */
  readonly netnsErrno: number;
}

export interface RelayResult {
  readonly exitCode: number;
  readonly stdout: Uint8Array;
  readonly stderr: Uint8Array;
}

/** A frame that breaks the protocol; the message says what was wrong. */
export class RelayProtocolError extends Error {
  override readonly name = "RelayProtocolError";
}

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

export function encodeRequest(r: RelayRequest): Uint8Array {
  const env = utf8.encode(JSON.stringify(r.env));
  const out = new Uint8Array(HEADER_BYTES + env.byteLength + r.stdin.byteLength);
  const v = new DataView(out.buffer);
  out.set(utf8.encode(MAGIC), 0);
  v.setUint8(4, VERSION);
  v.setUint8(5, (r.hasNetnsFd ? FLAG_NETNS_FD : 0) | (r.ownNetns ? FLAG_OWN_NETNS : 0));
  v.setUint16(6, r.netnsErrno, true);
  v.setUint32(8, env.byteLength, true);
  v.setUint32(12, r.stdin.byteLength, true);
  out.set(env, HEADER_BYTES);
  out.set(r.stdin, HEADER_BYTES + env.byteLength);
  return out;
}

/**
 * How many bytes the whole request takes, from its first 16; throws RelayProtocolError for a bad
 * header or a request over `max`.
 */
export function requestLength(header: Uint8Array, max = MAX_REQUEST_BYTES): number {
  if (header.byteLength < HEADER_BYTES) throw new RelayProtocolError("short header");
  const v = new DataView(header.buffer, header.byteOffset, header.byteLength);
  const magic = String.fromCharCode(...header.subarray(0, 4));
  if (magic !== MAGIC) throw new RelayProtocolError(`not a CNI relay request (magic ${JSON.stringify(magic)})`);
  if (v.getUint8(4) !== VERSION)
    throw new RelayProtocolError(`protocol version ${v.getUint8(4)}, this daemon speaks ${VERSION}`);
  const body = v.getUint32(8, true) + v.getUint32(12, true);
  if (body > max) throw new RelayProtocolError(`request of ${body} bytes is over the limit of ${max}`);
  return HEADER_BYTES + body;
}

/** Decode a complete request frame; throws RelayProtocolError naming what is wrong. */
export function decodeRequest(frame: Uint8Array, max = MAX_REQUEST_BYTES): RelayRequest {
  const total = requestLength(frame, max);
  if (frame.byteLength !== total)
    throw new RelayProtocolError(`frame of ${frame.byteLength} bytes, header says ${total}`);
  const v = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const flags = v.getUint8(5);
  if ((flags & ~(FLAG_NETNS_FD | FLAG_OWN_NETNS)) !== 0)
    throw new RelayProtocolError(`unknown flags 0x${flags.toString(16)}`);
  const envLen = v.getUint32(8, true);
  let env: unknown;
  try {
    env = JSON.parse(strictUtf8.decode(frame.subarray(HEADER_BYTES, HEADER_BYTES + envLen)));
  } catch (e) {
    throw new RelayProtocolError(`environment is not UTF-8 JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (typeof env !== "object" || env === null || Array.isArray(env))
    throw new RelayProtocolError("environment must be a JSON object");
  for (const [k, val] of Object.entries(env)) {
    if (typeof val !== "string")
      throw new RelayProtocolError(`environment variable ${JSON.stringify(k)} is not a string`);
  }
  return {
    env: env as Record<string, string>,
    stdin: frame.slice(HEADER_BYTES + envLen),
    hasNetnsFd: (flags & FLAG_NETNS_FD) !== 0,
    ownNetns: (flags & FLAG_OWN_NETNS) !== 0,
    netnsErrno: v.getUint16(6, true),
  };
}

/** REFUSE frame: the byte, a u16 length, the reason in UTF-8 (cut to 4 KiB). */
export function encodeRefusal(reason: string): Uint8Array {
  const text = utf8.encode(reason).subarray(0, 4096);
  const out = new Uint8Array(3 + text.byteLength);
  out[0] = REFUSE;
  new DataView(out.buffer).setUint16(1, text.byteLength, true);
  out.set(text, 3);
  return out;
}

/** RESULT frame: the byte, exit code (u8), stdout length (u32), stderr length (u32), the bytes. */
export function encodeResult(r: RelayResult): Uint8Array {
  const out = new Uint8Array(10 + r.stdout.byteLength + r.stderr.byteLength);
  const v = new DataView(out.buffer);
  out[0] = RESULT;
  v.setUint8(1, r.exitCode & 0xff);
  v.setUint32(2, r.stdout.byteLength, true);
  v.setUint32(6, r.stderr.byteLength, true);
  out.set(r.stdout, 10);
  out.set(r.stderr, 10 + r.stdout.byteLength);
  return out;
}

/**
 * What the client has read so far, decoded: undefined while incomplete; throws RelayProtocolError
 * for bytes that are no answer of this protocol.
 */
export function decodeAnswer(
  buf: Uint8Array,
): { kind: "offer" } | { kind: "refuse"; reason: string } | { kind: "result"; result: RelayResult } | undefined {
  if (buf.byteLength === 0) return undefined;
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  switch (buf[0]) {
    case OFFER:
      return { kind: "offer" };
    case REFUSE: {
      if (buf.byteLength < 3) return undefined;
      const len = v.getUint16(1, true);
      if (buf.byteLength < 3 + len) return undefined;
      return { kind: "refuse", reason: new TextDecoder().decode(buf.subarray(3, 3 + len)) };
    }
    case RESULT: {
      if (buf.byteLength < 10) return undefined;
      const out = v.getUint32(2, true);
      const err = v.getUint32(6, true);
      if (buf.byteLength < 10 + out + err) return undefined;
      return {
        kind: "result",
        result: {
          exitCode: v.getUint8(1),
          stdout: buf.slice(10, 10 + out),
          stderr: buf.slice(10 + out, 10 + out + err),
        },
      };
    }
    default:
      throw new RelayProtocolError(`unexpected answer byte 0x${(buf[0] ?? 0).toString(16)}`);
  }
}
