/**
 * Netlink message framing: the 16-byte nlmsghdr, splitting a datagram into messages and
 * decoding NLMSG_ERROR (errno + the kernel's extended-ack text). Pure module.
 */
import { Attrs, NlWriter, align4 } from "./attrs.ts";
import { NLMSG_ERROR, NLMSG_HDRLEN, NLMSGERR_ATTR_MSG, NLM_F_ACK_TLVS, NLM_F_CAPPED } from "./constants.ts";

/** A request before it gets a sequence number: the verb layers produce these. */
export interface NlRequest {
  readonly type: number;
  /** NLM_F_* flags besides NLM_F_REQUEST (added by the socket). */
  readonly flags: number;
  /** Names the operation in errors, e.g. `RTM_NEWLINK veth eth0`. */
  readonly op: string;
  /** Writes the family header and attributes after the nlmsghdr. */
  readonly fill: (w: NlWriter) => void;
}

/** A received message; `body` starts after the nlmsghdr and views the receive buffer. */
export interface NlMessage {
  readonly type: number;
  readonly flags: number;
  readonly seq: number;
  readonly pid: number;
  readonly body: Uint8Array;
}

/** Encode a full message: header (length patched at the end), then the request body. */
export function encodeMessage(req: Pick<NlRequest, "type" | "fill">, flags: number, seq: number, pid = 0): Uint8Array {
  const w = new NlWriter(256);
  w.u32(0).u16(req.type).u16(flags).u32(seq).u32(pid);
  req.fill(w);
  w.pad();
  w.patchU32(0, w.length);
  return w.finish();
}

/** Split `buf[0, n)` into messages; stops at a malformed length. */
export function splitMessages(buf: Uint8Array, n: number): NlMessage[] {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: NlMessage[] = [];
  const end = Math.min(n, buf.byteLength);
  let off = 0;
  while (off + NLMSG_HDRLEN <= end) {
    const len = dv.getUint32(off, true);
    if (len < NLMSG_HDRLEN || off + len > end) break;
    out.push({
      type: dv.getUint16(off + 4, true),
      flags: dv.getUint16(off + 6, true),
      seq: dv.getUint32(off + 8, true),
      pid: dv.getUint32(off + 12, true),
      body: buf.subarray(off + NLMSG_HDRLEN, off + len),
    });
    off += align4(len);
  }
  return out;
}

/** The content of an NLMSG_ERROR: errno 0 is a plain ACK. */
export interface NlErrorInfo {
  readonly errno: number;
  readonly extack: string;
}

export function decodeError(msg: NlMessage): NlErrorInfo {
  if (msg.type !== NLMSG_ERROR || msg.body.byteLength < 4) return { errno: 0, extack: "" };
  const dv = new DataView(msg.body.buffer, msg.body.byteOffset, msg.body.byteLength);
  const errno = -dv.getInt32(0, true) | 0;
  let extack = "";
  if (msg.flags & NLM_F_ACK_TLVS && msg.body.byteLength >= 4 + NLMSG_HDRLEN) {
    const origLen = dv.getUint32(4, true);
    const tlvAt = msg.flags & NLM_F_CAPPED ? 4 + NLMSG_HDRLEN : 4 + align4(origLen);
    if (tlvAt <= msg.body.byteLength) extack = Attrs.parse(msg.body, tlvAt).str(NLMSGERR_ATTR_MSG) ?? "";
  }
  return { errno, extack };
}
