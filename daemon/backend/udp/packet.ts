// IPv4 packet work of the udp backend's forwarder, on DataViews over packet buffers (no allocation
// per packet): Internet checksums, the TTL step, the ICMP "net unreachable" answer, the virtio-net
// header the TUN device prefixes with IFF_VNET_HDR, cutting a TCP super-packet (TSO) into segments,
// and the tests that decide whether received TCP segments can be merged into one (GRO).
// Pure: no kernel, no bun:ffi, so the unit tests run it on Node.

/** IPv4 header fields (byte offsets). */
export const IP_TOTLEN = 2;
export const IP_ID = 4;
export const IP_FRAG = 6;
export const IP_TTL = 8;
export const IP_PROTO = 9;
export const IP_CSUM = 10;
export const IP_SRC = 12;
export const IP_DST = 16;
export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;

/** TCP header fields (byte offsets from the TCP header). */
export const TCP_SEQ = 4;
export const TCP_ACK = 8;
export const TCP_DOFF = 12;
export const TCP_FLAGS = 13;
export const TCP_CSUM = 16;
export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACKF = 0x10;
export const TCP_URG = 0x20;
export const TCP_CWR = 0x80;

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
/** A Uint32Array over each packet buffer, made once: the fast path of {@link sum16} reads words with it. */
const wordViews = new WeakMap<ArrayBufferLike, Uint32Array>();

let lastBuf: ArrayBufferLike | undefined;
let lastWords: Uint32Array = new Uint32Array(0);

function words(buf: ArrayBufferLike): Uint32Array {
  if (buf === lastBuf) return lastWords;
  let w = wordViews.get(buf);
  if (!w) {
    w = new Uint32Array(buf, 0, buf.byteLength >>> 2);
    wordViews.set(buf, w);
  }
  lastBuf = buf;
  lastWords = w;
  return w;
}

/** One's complement sum of the big-endian 16-bit words of dv[start, end), added to `initial`; not folded. */
export function sum16(dv: DataView, start: number, end: number, initial = 0): number {
  let sum = initial;
  let i = start;
  // Long runs at an even address: native-order 32-bit words. Their folded sum is the byte-swapped
  // sum of the big-endian 16-bit words (a one's complement sum does not depend on byte order).
  if (LITTLE_ENDIAN && end - start >= 64 && ((dv.byteOffset + i) & 1) === 0) {
    if ((dv.byteOffset + i) & 2) {
      sum += dv.getUint16(i);
      i += 2;
    }
    const w = words(dv.buffer);
    const first = (dv.byteOffset + i) >>> 2;
    const n = (end - i) >>> 2;
    let le = 0;
    for (let k = first, last = first + n; k < last; k++) le += w[k] as number;
    const f = fold16(le);
    sum += ((f & 0xff) << 8) | (f >>> 8);
    i += n * 4;
  }
  // 32-bit loads: the sum of two 16-bit halves folds to the same one's complement value.
  for (; i + 3 < end; i += 4) sum += dv.getUint32(i);
  if (i + 1 < end) {
    sum += dv.getUint16(i);
    i += 2;
  }
  if (i < end) sum += dv.getUint8(i) << 8;
  return sum;
}

/** Fold a sum from {@link sum16} to 16 bits (end-around carry). */
export function fold16(sum: number): number {
  while (sum > 0xffff) {
    const lo = sum % 0x10000;
    sum = lo + (sum - lo) / 0x10000;
  }
  return sum;
}

/** The Internet checksum of dv[start, end) plus `initial`: what goes in a checksum field. */
export function checksum(dv: DataView, start: number, end: number, initial = 0): number {
  return ~fold16(sum16(dv, start, end, initial)) & 0xffff;
}

/** Header length of the IPv4 packet at `off` (IHL × 4). */
export function ipHeaderLength(dv: DataView, off: number): number {
  return (dv.getUint8(off) & 0x0f) * 4;
}

/** Recompute the IPv4 header checksum of the packet at `off`. */
export function setIpChecksum(dv: DataView, off: number): void {
  dv.setUint16(off + IP_CSUM, 0);
  dv.setUint16(off + IP_CSUM, checksum(dv, off, off + ipHeaderLength(dv, off)));
}

/** Whether the IPv4 header at `off` has a valid checksum. */
export function ipChecksumValid(dv: DataView, off: number): boolean {
  return fold16(sum16(dv, off, off + ipHeaderLength(dv, off))) === 0xffff;
}

/**
 * A plausible IPv4 packet of `len` bytes at `off`: version 4, a header of at least 20 bytes that
 * fits, and a total length within `len`. Returns the total length, or 0.
 */
export function ipv4Length(dv: DataView, off: number, len: number): number {
  if (len < 20) return 0;
  const v = dv.getUint8(off);
  if (v >> 4 !== 4 || (v & 0x0f) < 5) return 0;
  const total = dv.getUint16(off + IP_TOTLEN);
  if (total < (v & 0x0f) * 4 || total > len) return 0;
  return total;
}

/**
 * Decrement the TTL as a router does, updating the header checksum incrementally (the
 * word holding the TTL drops by 0x100, so the checksum rises by 0x100). Returns false when the
 * TTL reaches zero: the packet must be dropped.
 */
export function decrementTtl(dv: DataView, off: number): boolean {
  const ttl = dv.getUint8(off + IP_TTL);
  if (ttl <= 1) return false;
  dv.setUint8(off + IP_TTL, ttl - 1);
  const c = dv.getUint16(off + IP_CSUM) + 0x100;
  dv.setUint16(off + IP_CSUM, (c & 0xffff) + (c >>> 16));
  return true;
}

/** Largest IPv4 header (IHL 15). */
const MAX_IP_HEADER = 60;
/** Length of an ICMP error answering a packet: IPv4 header, ICMP header, the offender's header and 8 bytes. */
export const ICMP_ERROR_MAX = 20 + 8 + MAX_IP_HEADER + 8;

/**
 * Build the ICMP "destination unreachable / net unreachable" answer to the IPv4 packet at
 * src[off, off+len) into out[outOff…], from `from` (the TUN address, host order) to the packet's
 * source. Returns its length, or 0 when no answer is due: ICMP is not answered with ICMP, only a
 * first fragment is answered, and a header with options is not quoted.
 */
export function netUnreachable(
  src: DataView,
  off: number,
  len: number,
  from: number,
  out: DataView,
  outOff: number,
): number {
  const ihl = ipHeaderLength(src, off);
  if (ihl < 20 || ihl >= MAX_IP_HEADER || len < ihl) return 0;
  if (src.getUint8(off + IP_PROTO) === IPPROTO_ICMP) return 0;
  if ((src.getUint16(off + IP_FRAG) & 0x1fff) !== 0) return 0;
  const quoted = Math.min(len, ihl + 8);
  const total = 28 + quoted;
  for (let i = 0; i < 28; i++) out.setUint8(outOff + i, 0);
  out.setUint8(outOff, 0x45);
  out.setUint16(outOff + IP_TOTLEN, total);
  out.setUint8(outOff + IP_TTL, 8);
  out.setUint8(outOff + IP_PROTO, IPPROTO_ICMP);
  out.setUint32(outOff + IP_SRC, from >>> 0);
  out.setUint32(outOff + IP_DST, src.getUint32(off + IP_SRC));
  setIpChecksum(out, outOff);
  out.setUint8(outOff + 20, 3); // destination unreachable
  out.setUint8(outOff + 21, 0); // net unreachable
  for (let i = 0; i < quoted; i++) out.setUint8(outOff + 28 + i, src.getUint8(off + i));
  out.setUint16(outOff + 22, checksum(out, outOff + 20, outOff + total));
  return total;
}

// virtio-net header (struct virtio_net_hdr, little-endian on the hosts we run on) that a TUN
// device opened with IFF_VNET_HDR puts before each packet.
export const VNET_HDR_LEN = 10;
export const VNET_F_NEEDS_CSUM = 1;
export const VNET_GSO_NONE = 0;
export const VNET_GSO_TCPV4 = 1;
export const VNET_GSO_ECN = 0x80;

export interface VnetHeader {
  readonly flags: number;
  readonly gsoType: number;
  readonly hdrLen: number;
  readonly gsoSize: number;
  readonly csumStart: number;
  readonly csumOffset: number;
}

export function readVnetHeader(dv: DataView, off: number): VnetHeader {
  return {
    flags: dv.getUint8(off),
    gsoType: dv.getUint8(off + 1),
    hdrLen: dv.getUint16(off + 2, true),
    gsoSize: dv.getUint16(off + 4, true),
    csumStart: dv.getUint16(off + 6, true),
    csumOffset: dv.getUint16(off + 8, true),
  };
}

export function writeVnetHeader(dv: DataView, off: number, h: VnetHeader): void {
  dv.setUint8(off, h.flags);
  dv.setUint8(off + 1, h.gsoType);
  dv.setUint16(off + 2, h.hdrLen, true);
  dv.setUint16(off + 4, h.gsoSize, true);
  dv.setUint16(off + 6, h.csumStart, true);
  dv.setUint16(off + 8, h.csumOffset, true);
}

/**
 * Finish a checksum the kernel left partial (VIRTIO_NET_HDR_F_NEEDS_CSUM): the field at
 * csumStart + csumOffset holds the pseudo-header sum; the sum from csumStart to the end goes there,
 * 0 written as 0xffff as the kernel does. Returns false when the offsets do not fit the packet.
 */
export function completeChecksum(
  dv: DataView,
  off: number,
  len: number,
  csumStart: number,
  csumOffset: number,
): boolean {
  const field = off + csumStart + csumOffset;
  if (csumStart >= len || csumStart + csumOffset + 2 > len) return false;
  const c = checksum(dv, off + csumStart, off + len);
  dv.setUint16(field, c === 0 ? 0xffff : c);
  return true;
}

/** Sum of the TCP/UDP pseudo-header of the IPv4 packet at `off` for an L4 length `l4Len`. */
export function pseudoSum(dv: DataView, off: number, proto: number, l4Len: number): number {
  return (
    dv.getUint16(off + IP_SRC) +
    dv.getUint16(off + IP_SRC + 2) +
    dv.getUint16(off + IP_DST) +
    dv.getUint16(off + IP_DST + 2) +
    proto +
    l4Len
  );
}

/**
 * Header length (IP + TCP) of an IPv4/TCP packet of `len` bytes at `off` that can be cut into
 * segments: no fragment, TCP header complete. 0 otherwise.
 */
export function tcp4HeaderLength(dv: DataView, off: number, len: number): number {
  const total = ipv4Length(dv, off, len);
  if (total === 0 || dv.getUint8(off + IP_PROTO) !== IPPROTO_TCP) return 0;
  if ((dv.getUint16(off + IP_FRAG) & 0x3fff) !== 0) return 0;
  const ihl = ipHeaderLength(dv, off);
  if (total < ihl + 20) return 0;
  const thl = (dv.getUint8(off + ihl + TCP_DOFF) >> 4) * 4;
  if (thl < 20 || total < ihl + thl) return 0;
  return ihl + thl;
}

/**
 * Cut the IPv4/TCP super-packet at pkt[off, off+len) (header length `hlen`, from
 * {@link tcp4HeaderLength}) into segments of `mss` payload bytes, as the kernel's TCP segmentation
 * does: segment i gets IP ID + i, sequence + i × mss, FIN/PSH on the last segment only, CWR on the
 * first only, and both checksums computed. Segment i's header is written to
 * hdrs[hdrOff + i × hdrStride …+hlen]; its payload stays in place at off + hlen + i × mss. Returns
 * the number of segments.
 */
export function segmentTcp4(
  pkt: DataView,
  off: number,
  len: number,
  hlen: number,
  mss: number,
  hdrs: DataView,
  hdrOff: number,
  hdrStride: number,
): number {
  const ihl = ipHeaderLength(pkt, off);
  const t0 = off + ihl;
  const payload = len - hlen;
  const count = payload <= 0 ? 1 : Math.ceil(payload / mss);
  const id0 = pkt.getUint16(off + IP_ID);
  const seq0 = pkt.getUint32(t0 + TCP_SEQ);
  const flags0 = pkt.getUint8(t0 + TCP_FLAGS);
  // Sums of the header words every segment shares; per segment only the words that change are added.
  const ipBase = sum16(pkt, off, t0) - pkt.getUint16(off + IP_TOTLEN) - id0 - pkt.getUint16(off + IP_CSUM);
  const tcpBase =
    sum16(pkt, t0, off + hlen) -
    (seq0 >>> 16) -
    (seq0 & 0xffff) -
    pkt.getUint16(t0 + TCP_DOFF) -
    pkt.getUint16(t0 + TCP_CSUM) +
    pseudoSum(pkt, off, IPPROTO_TCP, 0);
  for (let i = 0; i < count; i++) {
    const h = hdrOff + i * hdrStride;
    for (let b = 0; b + 3 < hlen; b += 4) hdrs.setUint32(h + b, pkt.getUint32(off + b));
    const segPay = payload <= 0 ? 0 : Math.min(mss, payload - i * mss);
    const last = i === count - 1;
    const totlen = hlen + segPay;
    const id = (id0 + i) & 0xffff;
    hdrs.setUint16(h + IP_TOTLEN, totlen);
    hdrs.setUint16(h + IP_ID, id);
    hdrs.setUint16(h + IP_CSUM, ~fold16(ipBase + totlen + id) & 0xffff);
    const t = h + ihl;
    const seq = (seq0 + i * mss) >>> 0;
    hdrs.setUint32(t + TCP_SEQ, seq);
    let fl = flags0;
    if (!last) fl &= ~(TCP_FIN | TCP_PSH);
    if (i > 0) fl &= ~TCP_CWR;
    hdrs.setUint8(t + TCP_FLAGS, fl);
    let sum = tcpBase + (seq >>> 16) + (seq & 0xffff) + hdrs.getUint16(t + TCP_DOFF) + (hlen - ihl + segPay);
    if (segPay > 0) {
      const p = off + hlen + i * mss;
      sum = sum16(pkt, p, p + segPay, sum);
    }
    hdrs.setUint16(t + TCP_CSUM, ~fold16(sum) & 0xffff);
  }
  return count;
}

/**
 * Payload length of a received IPv4/TCP segment at `off` (`len` bytes) that may be merged with its
 * neighbours: IPv4 without options or fragmentation, TCP with only ACK (and PSH) set, payload
 * present, both checksums valid (a merged packet goes to the kernel with its checksum marked as
 * still to be computed, so it is checked here). -1 when it must be passed on alone.
 */
export function mergeableTcp4(dv: DataView, off: number, len: number): number {
  if (len < 40 || dv.getUint8(off) !== 0x45) return -1;
  const total = dv.getUint16(off + IP_TOTLEN);
  if (total !== len || dv.getUint8(off + IP_PROTO) !== IPPROTO_TCP) return -1;
  if ((dv.getUint16(off + IP_FRAG) & 0x3fff) !== 0) return -1;
  const flags = dv.getUint8(off + 20 + TCP_FLAGS);
  if ((flags & ~TCP_PSH) !== TCP_ACKF) return -1;
  const thl = (dv.getUint8(off + 20 + TCP_DOFF) >> 4) * 4;
  if (thl < 20 || total <= 20 + thl) return -1;
  if (!ipChecksumValid(dv, off)) return -1;
  if (fold16(sum16(dv, off + 20, off + total, pseudoSum(dv, off, IPPROTO_TCP, total - 20))) !== 0xffff) return -1;
  return total - 20 - thl;
}

/**
 * Whether segment `b` (at dv[off]) continues segment `a` (at dv[aOff], payload aPay): same
 * addresses, TOS, DF, TTL, ports, acknowledgement, window, TCP header length and options, and
 * b's sequence number right after a's payload. Both must have passed {@link mergeableTcp4}.
 */
export function continuesTcp4(dv: DataView, aOff: number, aPay: number, off: number): boolean {
  if (dv.getUint8(aOff + 1) !== dv.getUint8(off + 1)) return false; // TOS (ECN marks)
  if ((dv.getUint16(aOff + IP_FRAG) ^ dv.getUint16(off + IP_FRAG)) & 0x4000) return false;
  if (dv.getUint8(aOff + IP_TTL) !== dv.getUint8(off + IP_TTL)) return false;
  if (
    dv.getUint32(aOff + IP_SRC) !== dv.getUint32(off + IP_SRC) ||
    dv.getUint32(aOff + IP_DST) !== dv.getUint32(off + IP_DST)
  )
    return false;
  const ta = aOff + 20;
  const tb = off + 20;
  if (dv.getUint32(ta) !== dv.getUint32(tb)) return false; // ports
  if (dv.getUint32(ta + TCP_ACK) !== dv.getUint32(tb + TCP_ACK)) return false;
  if (dv.getUint16(ta + 14) !== dv.getUint16(tb + 14)) return false; // window
  const thl = (dv.getUint8(ta + TCP_DOFF) >> 4) * 4;
  if ((dv.getUint8(tb + TCP_DOFF) >> 4) * 4 !== thl) return false;
  for (let i = 20; i < thl; i += 4) if (dv.getUint32(ta + i) !== dv.getUint32(tb + i)) return false;
  return (dv.getUint32(ta + TCP_SEQ) + aPay) >>> 0 === dv.getUint32(tb + TCP_SEQ);
}

/**
 * Turn the header of the first of `count` merged segments (at dv[off], TCP header length from its
 * data offset) into the header of the merged packet carrying `payload` bytes: total length, IP
 * checksum, PSH if the last segment had it, and the TCP checksum field set to the pseudo-header
 * sum, as the kernel expects of a packet whose checksum is still to be computed. Writes the
 * virtio-net header (TCPv4 segmentation with `mss`, checksum needed) at vnet[vnetOff].
 */
export function finishMergedTcp4(
  dv: DataView,
  off: number,
  payload: number,
  push: boolean,
  mss: number,
  vnet: DataView,
  vnetOff: number,
): void {
  const thl = (dv.getUint8(off + 20 + TCP_DOFF) >> 4) * 4;
  const hlen = 20 + thl;
  dv.setUint16(off + IP_TOTLEN, hlen + payload);
  setIpChecksum(dv, off);
  if (push) dv.setUint8(off + 20 + TCP_FLAGS, dv.getUint8(off + 20 + TCP_FLAGS) | TCP_PSH);
  dv.setUint16(off + 20 + TCP_CSUM, fold16(pseudoSum(dv, off, IPPROTO_TCP, thl + payload)));
  writeVnetHeader(vnet, vnetOff, {
    flags: VNET_F_NEEDS_CSUM,
    gsoType: VNET_GSO_TCPV4,
    hdrLen: hlen,
    gsoSize: mss,
    csumStart: 20,
    csumOffset: TCP_CSUM,
  });
}
