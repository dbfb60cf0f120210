import { describe, expect, it } from "vitest";
import { Attrs } from "./attrs.ts";
import { NDA, NLM_F_APPEND, NLM_F_CREATE, NLM_F_REPLACE, NTF_SELF, NUD, RTM } from "./constants.ts";
import { encodeMessage, splitMessages, type NlRequest } from "./message.ts";
import { decodeNeigh, dumpNeighsRequest, fdbRequest, neighRequest } from "./neigh.ts";
import { kernelMessage } from "../testing/kernel-messages.ts";

function parse(r: NlRequest): { body: Uint8Array; attrs: Attrs } {
  const bytes = encodeMessage(r, 0, 1);
  const [m] = splitMessages(bytes, bytes.byteLength);
  if (!m) throw new Error("no message");
  return { body: m.body, attrs: Attrs.parse(m.body, 12) };
}

describe("neighbour and FDB messages", () => {
  it("decodes a kernel permanent ARP entry", () => {
    expect(decodeNeigh(kernelMessage("neigh", RTM.NEWNEIGH))).toMatchObject({
      family: 4,
      ip: "10.244.3.0",
      mac: "aa:bb:cc:dd:ee:01",
      permanent: true,
      states: ["permanent"],
    });
  });

  it("decodes a kernel vxlan FDB entry with its remote VTEP", () => {
    expect(decodeNeigh(kernelMessage("fdb", RTM.NEWNEIGH))).toMatchObject({
      family: "bridge",
      mac: "00:00:00:00:00:00",
      ip: "192.0.2.20",
      self: true,
      master: false,
      permanent: true,
    });
  });

  it("replaces a permanent neighbour with NLM_F_CREATE|NLM_F_REPLACE", () => {
    const r = neighRequest({ index: 4, ip: "10.244.2.0", mac: "aa:bb:cc:dd:ee:ff" }, "replace", "flannel.1");
    expect(r.flags).toBe(NLM_F_CREATE | NLM_F_REPLACE);
    expect(r.op).toBe("RTM_NEWNEIGH replace 10.244.2.0 lladdr aa:bb:cc:dd:ee:ff dev flannel.1");
    const { body, attrs } = parse(r);
    expect(body[0]).toBe(2);
    expect(new DataView(body.buffer, body.byteOffset).getUint16(8, true)).toBe(NUD.permanent);
    expect([...(attrs.get(NDA.LLADDR) ?? [])]).toEqual([0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff]);
  });

  it("appends FDB entries on AF_BRIDGE with NTF_SELF and the remote in NDA_DST", () => {
    const r = fdbRequest({ index: 4, mac: "00:00:00:00:00:00", dst: "192.0.2.20" }, "append", "vx");
    expect(r.flags).toBe(NLM_F_CREATE | NLM_F_APPEND);
    const { body, attrs } = parse(r);
    expect([body[0], body[10]]).toEqual([7, NTF_SELF]);
    expect([...(attrs.get(NDA.DST) ?? [])]).toEqual([192, 0, 2, 20]);
  });

  it("deletes neighbours by address and FDB entries by MAC and destination", () => {
    const n = neighRequest({ index: 4, ip: "10.244.2.0" }, "delete", "vx");
    expect([n.type, n.flags]).toEqual([RTM.DELNEIGH, 0]);
    expect(parse(n).attrs.has(NDA.LLADDR)).toBe(false);
    const f = parse(fdbRequest({ index: 4, mac: "aa:bb:cc:dd:ee:01", dst: "192.0.2.23" }, "delete", "vx"));
    expect(f.attrs.has(NDA.LLADDR) && f.attrs.has(NDA.DST)).toBe(true);
  });
  it("asks the kernel for one device's neighbours by NDA_IFINDEX and one port's FDB by an ifinfomsg", () => {
    const ip = parse(dumpNeighsRequest(4, 7));
    expect(ip.body.byteLength).toBe(12 + 8);
    expect(ip.body[0]).toBe(2);
    expect(ip.attrs.u32(NDA.IFINDEX)).toBe(7);
    const fdb = parse(dumpNeighsRequest("bridge", 7));
    // 16-byte ifinfomsg (AF_BRIDGE, ifi_index 7): the length tells the kernel it is not an ndmsg
    expect(fdb.body.byteLength).toBe(16);
    expect(fdb.body[0]).toBe(7);
    expect(new DataView(fdb.body.buffer, fdb.body.byteOffset).getInt32(4, true)).toBe(7);
    expect(parse(dumpNeighsRequest("bridge")).body.byteLength).toBe(12);
  });

  it("shares one frozen list of state names between neighbours in the same state", () => {
    const a = decodeNeigh(kernelMessage("neigh", RTM.NEWNEIGH));
    const b = decodeNeigh(kernelMessage("neigh", RTM.NEWNEIGH));
    expect(a.states).toBe(b.states);
    expect(Object.isFrozen(a.states)).toBe(true);
  });
});
