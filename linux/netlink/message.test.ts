import { describe, expect, it } from "vitest";
import { NlWriter } from "./attrs.ts";
import { NLMSG_ERROR, NLM_F_ACK, NLM_F_REQUEST } from "./constants.ts";
import { errorMessage } from "../testing/fake-transport.ts";
import { decodeError, encodeMessage, splitMessages } from "./message.ts";

describe("netlink message framing", () => {
  it("writes the 16-byte header with the total length, type, flags and sequence", () => {
    const m = encodeMessage(
      { type: 18, fill: (w) => w.u8(0).u8(0).u16(0).i32(1).u32(0).u32(0) },
      NLM_F_REQUEST | NLM_F_ACK,
      42,
    );
    const dv = new DataView(m.buffer);
    expect(m.byteLength).toBe(32);
    expect(dv.getUint32(0, true)).toBe(32);
    expect(dv.getUint16(4, true)).toBe(18);
    expect(dv.getUint16(6, true)).toBe(5);
    expect(dv.getUint32(8, true)).toBe(42);
  });

  it("splits a datagram holding several messages", () => {
    const a = encodeMessage({ type: 16, fill: (w) => w.u32(1) }, 2, 7);
    const b = encodeMessage({ type: 3, fill: (w) => w.u32(0) }, 2, 7);
    const buf = new Uint8Array([...a, ...b]);
    const msgs = splitMessages(buf, buf.byteLength);
    expect(msgs.map((m) => [m.type, m.seq, m.body.byteLength])).toEqual([
      [16, 7, 4],
      [3, 7, 4],
    ]);
  });

  it("ignores a trailing partial message", () => {
    const a = encodeMessage({ type: 16, fill: (w) => w.u32(1) }, 2, 7);
    expect(splitMessages(new Uint8Array([...a, 1, 2, 3]), a.byteLength + 3)).toHaveLength(1);
  });

  it("decodes the errno and the extended-ack text of an NLMSG_ERROR", () => {
    const req = splitMessages(encodeMessage({ type: 16, fill: (w) => w.u32(0) }, 5, 9), 20)[0];
    if (!req) throw new Error("no request");
    const [err] = splitMessages(errorMessage(req, 17, "Device already exists"), 1000);
    expect(err?.type).toBe(NLMSG_ERROR);
    expect(err && decodeError(err)).toEqual({ errno: 17, extack: "Device already exists" });
    const [ack] = splitMessages(errorMessage(req, 0), 1000);
    expect(ack && decodeError(ack)).toEqual({ errno: 0, extack: "" });
  });

  it("finds extended-ack TLVs after an uncapped echoed request", () => {
    // Without NLM_F_CAPPED the kernel echoes the whole request before the TLVs.
    const w = new NlWriter();
    w.i32(-22).u32(20).u16(16).u16(5).u32(9).u32(0).u32(0xdeadbeef).attrStr(1, "bad attr");
    const body = w.finish();
    expect(decodeError({ type: NLMSG_ERROR, flags: 0x200, seq: 9, pid: 0, body })).toEqual({
      errno: 22,
      extack: "bad attr",
    });
  });
});
