import { describe, expect, it } from "vitest";
import { Rng } from "../../netns-fixtures/fuzz/fuzz.ts";
import {
  HEADER_BYTES,
  MAX_REQUEST_BYTES,
  OFFER,
  RelayProtocolError,
  decodeAnswer,
  decodeRequest,
  encodeRefusal,
  encodeRequest,
  encodeResult,
  requestLength,
  type RelayRequest,
} from "./protocol.ts";

const enc = new TextEncoder();
const request: RelayRequest = {
  env: { CNI_COMMAND: "ADD", CNI_NETNS: "/var/run/netns/pod", "ODD=KEY": "v\u00e9\u0000" },
  stdin: enc.encode('{"cniVersion":"1.1.0","name":"cbr0","type":"flannel"}\n'),
  hasNetnsFd: true,
  ownNetns: false,
  netnsErrno: 0,
};

describe("CNI relay frames", () => {
  it("round-trips a request: environment, stdin bytes, flags and the netns errno", () => {
    const frame = encodeRequest(request);
    expect(requestLength(frame.subarray(0, HEADER_BYTES))).toBe(frame.byteLength);
    expect(decodeRequest(frame)).toEqual(request);
    const noNs = { ...request, hasNetnsFd: false, ownNetns: true, netnsErrno: 2, stdin: Uint8Array.of(0xff, 0xfe) };
    expect(decodeRequest(encodeRequest(noNs))).toEqual(noNs);
  });

  it("refuses a bad magic, an unknown version, unknown flags, a non-object environment and non-string values", () => {
    const bad = (mutate: (f: Uint8Array, v: DataView) => void): Uint8Array => {
      const f = encodeRequest(request);
      mutate(f, new DataView(f.buffer));
      return f;
    };
    expect(() => decodeRequest(bad((f) => f.set([0x48, 0x54, 0x54, 0x50])))).toThrow(/not a CNI relay request/);
    expect(() => decodeRequest(bad((_f, v) => v.setUint8(4, 9)))).toThrow(/protocol version 9/);
    expect(() => decodeRequest(bad((_f, v) => v.setUint8(5, 0x80)))).toThrow(/unknown flags 0x80/);
    const array = encodeRequest({ ...request, env: {} });
    array.set(enc.encode("[]"), HEADER_BYTES);
    expect(() => decodeRequest(array)).toThrow(/must be a JSON object/);
    const numbers = encodeRequest({ ...request, env: {} });
    const body = enc.encode('{"A":1}');
    const f = new Uint8Array(HEADER_BYTES + body.byteLength);
    f.set(numbers.subarray(0, HEADER_BYTES));
    new DataView(f.buffer).setUint32(8, body.byteLength, true);
    new DataView(f.buffer).setUint32(12, 0, true);
    f.set(body, HEADER_BYTES);
    expect(() => decodeRequest(f)).toThrow(/"A" is not a string/);
  });

  it("refuses a request announced over the size limit before reading it", () => {
    const head = encodeRequest(request).slice(0, HEADER_BYTES);
    new DataView(head.buffer).setUint32(12, MAX_REQUEST_BYTES, true);
    expect(() => requestLength(head)).toThrow(/over the limit of 1048576/);
    expect(() => requestLength(head, 1 << 30)).not.toThrow();
  });

  it("decodes answers only once they are complete", () => {
    expect(decodeAnswer(new Uint8Array())).toBeUndefined();
    expect(decodeAnswer(Uint8Array.of(OFFER))).toEqual({ kind: "offer" });
    const refusal = encodeRefusal("flanneld is shutting down");
    expect(decodeAnswer(refusal.subarray(0, 5))).toBeUndefined();
    expect(decodeAnswer(refusal)).toEqual({ kind: "refuse", reason: "flanneld is shutting down" });
    const result = encodeResult({ exitCode: 1, stdout: enc.encode('{"code":11}'), stderr: enc.encode("warn\n") });
    expect(decodeAnswer(result.subarray(0, result.byteLength - 1))).toBeUndefined();
    expect(decodeAnswer(result)).toEqual({
      kind: "result",
      result: { exitCode: 1, stdout: enc.encode('{"code":11}'), stderr: enc.encode("warn\n") },
    });
    expect(() => decodeAnswer(Uint8Array.of(0x42))).toThrow(RelayProtocolError);
  });

  it("never fails on random or mangled bytes with anything but a RelayProtocolError (seeded fuzz)", () => {
    const seed = Number(process.env["WEFT_FUZZ_SEED"] ?? 20261204);
    const rng = new Rng(seed);
    const valid = encodeRequest(request);
    let decoded = 0;
    for (let i = 0; i < 20_000; i++) {
      let f: Uint8Array;
      if (rng.chance(0.5)) {
        f = valid.slice();
        for (let k = rng.int(1, 6); k > 0; k--) f[rng.int(0, f.byteLength - 1)] = rng.int(0, 255);
        if (rng.chance(0.3)) f = f.slice(0, rng.int(0, f.byteLength));
      } else {
        f = new Uint8Array(rng.int(0, 64));
        for (let k = 0; k < f.byteLength; k++) f[k] = rng.int(0, 255);
      }
      try {
        const r = decodeRequest(f);
        decoded++;
        expect(typeof r.env).toBe("object");
      } catch (e) {
        if (!(e instanceof RelayProtocolError)) throw new Error(`seed ${seed} step ${i}: ${String(e)}`);
      }
      try {
        decodeAnswer(f);
      } catch (e) {
        if (!(e instanceof RelayProtocolError)) throw new Error(`seed ${seed} step ${i} (answer): ${String(e)}`);
      }
    }
    // some mutations only touch stdin or string contents and still decode
    expect(decoded).toBeGreaterThan(0);
  });
});
