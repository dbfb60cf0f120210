import { describe, expect, it } from "vitest";
import {
  checksum,
  completeChecksum,
  continuesTcp4,
  decrementTtl,
  finishMergedTcp4,
  fold16,
  IP_CSUM,
  IP_TTL,
  ipChecksumValid,
  ipv4Length,
  mergeableTcp4,
  netUnreachable,
  pseudoSum,
  readVnetHeader,
  segmentTcp4,
  setIpChecksum,
  sum16,
  TCP_CSUM,
  tcp4HeaderLength,
  VNET_F_NEEDS_CSUM,
  VNET_GSO_TCPV4,
} from "./packet.ts";

const dvOf = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

function ip(s: string): number[] {
  return s.split(".").map(Number);
}

interface TcpOpts {
  src?: string;
  dst?: string;
  ttl?: number;
  id?: number;
  seq?: number;
  ack?: number;
  flags?: number;
  payload?: Uint8Array;
  /** TCP options (multiple of 4 bytes), e.g. a timestamp */
  options?: number[];
  ihl?: number;
  frag?: number;
  sport?: number;
  dport?: number;
}

/** An IPv4/TCP packet with both checksums right. */
function tcpPacket(o: TcpOpts = {}): Uint8Array {
  const ihl = o.ihl ?? 5;
  const opts = o.options ?? [];
  const thl = 20 + opts.length;
  const pay = o.payload ?? new Uint8Array(0);
  const total = ihl * 4 + thl + pay.length;
  const b = new Uint8Array(total);
  const dv = dvOf(b);
  b[0] = 0x40 | ihl;
  dv.setUint16(2, total);
  dv.setUint16(4, o.id ?? 0x1234);
  dv.setUint16(6, o.frag ?? 0x4000);
  b[8] = o.ttl ?? 64;
  b[9] = 6;
  b.set(ip(o.src ?? "10.244.1.2"), 12);
  b.set(ip(o.dst ?? "10.244.2.3"), 16);
  for (let i = 20; i < ihl * 4; i++) b[i] = 1; // NOP options
  setIpChecksum(dv, 0);
  const t = ihl * 4;
  dv.setUint16(t, o.sport ?? 40000);
  dv.setUint16(t + 2, o.dport ?? 5201);
  dv.setUint32(t + 4, o.seq ?? 1000);
  dv.setUint32(t + 8, o.ack ?? 77);
  b[t + 12] = (thl / 4) << 4;
  b[t + 13] = o.flags ?? 0x10;
  dv.setUint16(t + 14, 502);
  b.set(opts, t + 20);
  b.set(pay, t + thl);
  dv.setUint16(t + TCP_CSUM, checksum(dv, t, total, pseudoSum(dv, 0, 6, total - t)));
  return b;
}

function tcpChecksumValid(b: Uint8Array): boolean {
  const dv = dvOf(b);
  const t = (b[0]! & 15) * 4;
  return fold16(sum16(dv, t, b.length, pseudoSum(dv, 0, 6, b.length - t))) === 0xffff;
}

const TIMESTAMP = [1, 1, 8, 10, 0, 0, 0, 9, 0, 0, 0, 7];

function payload(n: number, seed = 1): Uint8Array {
  const p = new Uint8Array(n);
  for (let i = 0; i < n; i++) p[i] = (i * 31 + seed * 7) & 0xff;
  return p;
}

describe("Internet checksum", () => {
  it("sums 00 01 f2 03 f4 f5 f6 f7 to ddf2 (checksum 220d) and handles an odd length", () => {
    const b = new Uint8Array([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]);
    expect(fold16(sum16(dvOf(b), 0, 8))).toBe(0xddf2);
    expect(checksum(dvOf(b), 0, 8)).toBe(0x220d);
    // an odd trailing byte counts as the high byte of a zero-padded word
    expect(fold16(sum16(dvOf(new Uint8Array([0x01, 0x02, 0x03])), 0, 3))).toBe(0x0102 + 0x0300);
  });

  it("computes a known IPv4 header checksum", () => {
    const h = new Uint8Array([
      0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0, 0, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
    ]);
    setIpChecksum(dvOf(h), 0);
    expect(dvOf(h).getUint16(IP_CSUM)).toBe(0xb861);
    expect(ipChecksumValid(dvOf(h), 0)).toBe(true);
  });
});

describe("decrementTtl", () => {
  it("lowers the TTL by one and keeps the header checksum valid for every TTL and checksum value", () => {
    for (let ttl = 2; ttl < 256; ttl += 1) {
      for (const id of [0, 1, 0x1234, 0xfeff, 0xffff]) {
        const b = tcpPacket({ ttl, id });
        expect(decrementTtl(dvOf(b), 0)).toBe(true);
        expect(b[IP_TTL]).toBe(ttl - 1);
        expect(ipChecksumValid(dvOf(b), 0)).toBe(true);
      }
    }
  });

  it("refuses a packet whose TTL would reach zero and leaves it untouched", () => {
    const b = tcpPacket({ ttl: 1 });
    const before = b.slice();
    expect(decrementTtl(dvOf(b), 0)).toBe(false);
    expect(b).toEqual(before);
  });
});

describe("ipv4Length", () => {
  it("accepts a well-formed packet (trailing bytes allowed) and rejects IPv6, short and truncated ones", () => {
    const b = tcpPacket({ payload: payload(10) });
    expect(ipv4Length(dvOf(b), 0, b.length)).toBe(b.length);
    const padded = new Uint8Array(b.length + 6);
    padded.set(b);
    expect(ipv4Length(dvOf(padded), 0, padded.length)).toBe(b.length);
    expect(ipv4Length(dvOf(b), 0, b.length - 1)).toBe(0);
    expect(ipv4Length(dvOf(b), 0, 19)).toBe(0);
    const v6 = new Uint8Array(40);
    v6[0] = 0x60;
    expect(ipv4Length(dvOf(v6), 0, 40)).toBe(0);
  });
});

describe("netUnreachable", () => {
  it("answers from the TUN address with type 3 code 0 quoting the header and 8 bytes, checksums valid", () => {
    const pkt = tcpPacket({ src: "10.244.1.5", dst: "10.244.99.1", payload: payload(100) });
    const out = new Uint8Array(200);
    const from = (10 << 24) | (244 << 16) | (1 << 8);
    const n = netUnreachable(dvOf(pkt), 0, pkt.length, from, dvOf(out), 0);
    expect(n).toBe(20 + 8 + 20 + 8);
    const o = dvOf(out);
    expect(out[0]).toBe(0x45);
    expect(o.getUint16(2)).toBe(n);
    expect(out[8]).toBe(8); // flannel's TTL for the answer
    expect(out[9]).toBe(1);
    expect([...out.subarray(12, 16)]).toEqual([10, 244, 1, 0]);
    expect([...out.subarray(16, 20)]).toEqual([10, 244, 1, 5]);
    expect(ipChecksumValid(o, 0)).toBe(true);
    expect(out[20]).toBe(3);
    expect(out[21]).toBe(0);
    expect(fold16(sum16(o, 20, n))).toBe(0xffff);
    expect([...out.subarray(28, n)]).toEqual([...pkt.subarray(0, 28)]);
  });

  it("does not answer ICMP, later fragments, or headers of 60 bytes", () => {
    const out = dvOf(new Uint8Array(200));
    const icmp = tcpPacket();
    icmp[9] = 1;
    expect(netUnreachable(dvOf(icmp), 0, icmp.length, 1, out, 0)).toBe(0);
    const frag = tcpPacket({ frag: 0x2000 | 185 });
    expect(netUnreachable(dvOf(frag), 0, frag.length, 1, out, 0)).toBe(0);
    const first = tcpPacket({ frag: 0x2000 });
    expect(netUnreachable(dvOf(first), 0, first.length, 1, out, 0)).toBeGreaterThan(0);
    const opts = tcpPacket({ ihl: 15 });
    expect(netUnreachable(dvOf(opts), 0, opts.length, 1, out, 0)).toBe(0);
  });
});

describe("completeChecksum", () => {
  it("finishes a checksum the kernel left partial (pseudo-header sum in the field)", () => {
    const full = tcpPacket({ payload: payload(333) });
    const partial = full.slice();
    const dv = dvOf(partial);
    dv.setUint16(20 + TCP_CSUM, fold16(pseudoSum(dv, 0, 6, partial.length - 20)));
    expect(completeChecksum(dv, 0, partial.length, 20, TCP_CSUM)).toBe(true);
    expect(partial).toEqual(full);
  });

  it("refuses offsets outside the packet", () => {
    const b = tcpPacket();
    expect(completeChecksum(dvOf(b), 0, b.length, b.length, 0)).toBe(false);
    expect(completeChecksum(dvOf(b), 0, b.length, 20, b.length)).toBe(false);
  });
});

describe("segmentTcp4", () => {
  const SEG = (super_: Uint8Array, mss: number) => {
    const dv = dvOf(super_);
    const hlen = tcp4HeaderLength(dv, 0, super_.length);
    const hdrs = new Uint8Array(128 * 64);
    const n = segmentTcp4(dv, 0, super_.length, hlen, mss, dvOf(hdrs), 0, 128);
    const segs: Uint8Array[] = [];
    for (let i = 0; i < n; i++) {
      const pay = super_.subarray(hlen + i * mss, Math.min(super_.length, hlen + (i + 1) * mss));
      const s = new Uint8Array(hlen + pay.length);
      s.set(hdrs.subarray(i * 128, i * 128 + hlen));
      s.set(pay, hlen);
      segs.push(s);
    }
    return { hlen, segs };
  };

  it("cuts a super-packet like the kernel: IDs, sequence numbers, PSH/FIN last, CWR first, checksums", () => {
    const p = payload(5000);
    const sup = tcpPacket({
      payload: p,
      options: TIMESTAMP,
      id: 0xfffe,
      seq: 0xfffff000,
      flags: 0x10 | 0x08 | 0x01 | 0x80,
    });
    const { hlen, segs } = SEG(sup, 1400);
    expect(hlen).toBe(52);
    expect(segs).toHaveLength(4);
    const joined: number[] = [];
    segs.forEach((s, i) => {
      const dv = dvOf(s);
      expect(dv.getUint16(2)).toBe(s.length);
      expect(dv.getUint16(4)).toBe((0xfffe + i) & 0xffff);
      expect(dv.getUint32(20 + 4)).toBe((0xfffff000 + i * 1400) >>> 0);
      const flags = s[33]!;
      expect(flags & 0x10).toBe(0x10);
      expect((flags & 0x09) !== 0).toBe(i === 3);
      expect((flags & 0x80) !== 0).toBe(i === 0);
      expect(ipChecksumValid(dv, 0)).toBe(true);
      expect(tcpChecksumValid(s)).toBe(true);
      expect([...s.subarray(40, 52)]).toEqual(TIMESTAMP);
      joined.push(...s.subarray(hlen));
    });
    expect(segs.map((s) => s.length - hlen)).toEqual([1400, 1400, 1400, 800]);
    expect(new Uint8Array(joined)).toEqual(p);
  });

  it("gives one segment when the payload fits", () => {
    const sup = tcpPacket({ payload: payload(100) });
    const { segs } = SEG(sup, 1400);
    expect(segs).toHaveLength(1);
    expect(segs[0]).toEqual(sup);
  });
});

describe("merging received segments", () => {
  const cut = (sup: Uint8Array, mss: number): Uint8Array[] => {
    const dv = dvOf(sup);
    const hlen = tcp4HeaderLength(dv, 0, sup.length);
    const hdrs = new Uint8Array(128 * 64);
    const n = segmentTcp4(dv, 0, sup.length, hlen, mss, dvOf(hdrs), 0, 128);
    return Array.from({ length: n }, (_, i) => {
      const pay = sup.subarray(hlen + i * mss, Math.min(sup.length, hlen + (i + 1) * mss));
      const s = new Uint8Array(hlen + pay.length);
      s.set(hdrs.subarray(i * 128, i * 128 + hlen));
      s.set(pay, hlen);
      return s;
    });
  };

  it("accepts ACK and ACK|PSH data segments with valid checksums only", () => {
    const ok = tcpPacket({ payload: payload(50) });
    expect(mergeableTcp4(dvOf(ok), 0, ok.length)).toBe(50);
    const psh = tcpPacket({ payload: payload(50), flags: 0x18 });
    expect(mergeableTcp4(dvOf(psh), 0, psh.length)).toBe(50);
    for (const flags of [0x12, 0x11, 0x14, 0x30, 0x90]) {
      const b = tcpPacket({ payload: payload(50), flags });
      expect(mergeableTcp4(dvOf(b), 0, b.length)).toBe(-1);
    }
    expect(mergeableTcp4(dvOf(tcpPacket()), 0, 40)).toBe(-1); // no payload
    const badTcp = tcpPacket({ payload: payload(50) });
    badTcp[60] = badTcp[60]! ^ 0xff;
    expect(mergeableTcp4(dvOf(badTcp), 0, badTcp.length)).toBe(-1);
    const badIp = tcpPacket({ payload: payload(50) });
    badIp[IP_CSUM] = badIp[IP_CSUM]! ^ 1;
    expect(mergeableTcp4(dvOf(badIp), 0, badIp.length)).toBe(-1);
    const opts = tcpPacket({ payload: payload(50), ihl: 6 });
    expect(mergeableTcp4(dvOf(opts), 0, opts.length)).toBe(-1);
    const frag = tcpPacket({ payload: payload(50), frag: 0x2000 });
    expect(mergeableTcp4(dvOf(frag), 0, frag.length)).toBe(-1);
  });

  it("chains consecutive segments of one flow and nothing else", () => {
    const segs = cut(tcpPacket({ payload: payload(3000), options: TIMESTAMP }), 1000);
    const buf = new Uint8Array(segs.reduce((n, s) => n + s.length, 0));
    const offs: number[] = [];
    let o = 0;
    for (const s of segs) {
      offs.push(o);
      buf.set(s, o);
      o += s.length;
    }
    const dv = dvOf(buf);
    expect(continuesTcp4(dv, offs[0]!, 1000, offs[1]!)).toBe(true);
    expect(continuesTcp4(dv, offs[1]!, 1000, offs[2]!)).toBe(true);
    expect(continuesTcp4(dv, offs[0]!, 1000, offs[2]!)).toBe(false); // a gap
    expect(continuesTcp4(dv, offs[1]!, 1000, offs[0]!)).toBe(false); // backwards
    const other = (o2: TcpOpts) => {
      const b = new Uint8Array(segs[0]!.length * 2);
      b.set(segs[0]!);
      b.set(tcpPacket({ payload: payload(1000), options: TIMESTAMP, seq: 2000, ...o2 }), segs[0]!.length);
      return continuesTcp4(dvOf(b), 0, 1000, segs[0]!.length);
    };
    expect(other({})).toBe(true);
    expect(other({ dport: 5202 })).toBe(false);
    expect(other({ ack: 78 })).toBe(false);
    expect(other({ src: "10.244.1.9" })).toBe(false);
    expect(other({ ttl: 63 })).toBe(false);
    expect(other({ options: [1, 1, 8, 10, 0, 0, 0, 10, 0, 0, 0, 7] })).toBe(false);
  });

  it("merges the segments of a super-packet back into it, the checksum left for the kernel to finish", () => {
    const p = payload(4000, 3);
    const sup = tcpPacket({ payload: p, options: TIMESTAMP, flags: 0x18 });
    const segs = cut(sup, 1448);
    const hlen = 52;
    const merged = new Uint8Array(hlen + p.length);
    merged.set(segs[0]!);
    let o = segs[0]!.length;
    for (const s of segs.slice(1)) {
      merged.set(s.subarray(hlen), o);
      o += s.length - hlen;
    }
    const vnet = new Uint8Array(10);
    finishMergedTcp4(dvOf(merged), 0, p.length, true, 1448, dvOf(vnet), 0);
    const h = readVnetHeader(dvOf(vnet), 0);
    expect(h).toEqual({
      flags: VNET_F_NEEDS_CSUM,
      gsoType: VNET_GSO_TCPV4,
      hdrLen: hlen,
      gsoSize: 1448,
      csumStart: 20,
      csumOffset: TCP_CSUM,
    });
    expect(ipChecksumValid(dvOf(merged), 0)).toBe(true);
    // what the kernel does with a checksum-partial packet, then it is the original super-packet
    expect(completeChecksum(dvOf(merged), 0, merged.length, h.csumStart, h.csumOffset)).toBe(true);
    expect(merged).toEqual(sup);
  });
});
