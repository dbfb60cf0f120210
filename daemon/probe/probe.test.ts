import { describe, expect, it } from "vitest";
import { parseCidr, type IpNet } from "../../net/prefix.ts";
import type { Lease } from "../lease.ts";
import { memoryLogger } from "../testing/memory-logger.ts";
import { probePeer } from "./prober.ts";
import {
  decodeReply,
  decodeRequest,
  encodeReply,
  encodeRequest,
  MIN_REQUEST_BYTES,
  REQUEST_BYTES,
} from "./protocol.ts";
import { allowedSender, startProbeResponder } from "./responder.ts";

const net = (s: string): IpNet => {
  const n = parseCidr(s);
  if (!n) throw new Error(s);
  return n;
};
const own: Lease = { subnet: net("10.244.2.0/24"), attrs: { PublicIP: "192.0.2.12", BackendType: "vxlan" } };
const peer: Lease = { subnet: net("10.244.1.0/24"), attrs: { PublicIP: "192.0.2.11" } };
const base = {
  self: { lease: own, backend: "vxlan", version: "1.0" },
  peers: () => [peer],
  networks: [net("10.244.0.0/16")],
};

describe("node probe protocol", () => {
  it("pads requests so no reply is larger, and round-trips both messages", () => {
    const req = encodeRequest({ id: "0123456789abcdef", from: "10.244.1.0/24" });
    expect(req.byteLength).toBe(REQUEST_BYTES);
    expect(decodeRequest(req)).toEqual({ id: "0123456789abcdef", from: "10.244.1.0/24" });
    const reply = encodeReply(
      { id: "0123456789abcdef", subnet: "10.244.2.0/24", knowsSender: true, backend: "vxlan" },
      512,
    );
    expect(reply && decodeReply(reply)).toEqual({
      id: "0123456789abcdef",
      subnet: "10.244.2.0/24",
      knowsSender: true,
      backend: "vxlan",
    });
  });

  it("ignores short, long or foreign datagrams, and drops reply fields to stay within the request size", () => {
    const json = JSON.stringify({ weft: "probe", v: 1, id: "0123456789abcdef", from: "" });
    expect(decodeRequest(new TextEncoder().encode(json))).toBeUndefined();
    expect(decodeRequest(new TextEncoder().encode(json.padEnd(MIN_REQUEST_BYTES, " ")))).toBeDefined();
    expect(decodeRequest(new TextEncoder().encode(json.padEnd(2000, " ")))).toBeUndefined();
    expect(decodeRequest(new TextEncoder().encode("x".repeat(300)))).toBeUndefined();
    const r = encodeReply({ id: "0123456789abcdef", subnet: "s", version: "v".repeat(400), backend: "vxlan" }, 256);
    expect(r?.byteLength).toBeLessThanOrEqual(256);
    expect(r && decodeReply(r)).toEqual({ id: "0123456789abcdef", subnet: "s", backend: "vxlan" });
  });

  it("answers only the cluster's own addresses: pod networks, peers' public IPs, loopback", () => {
    expect(allowedSender("10.244.1.0", base)).toBe(true);
    expect(allowedSender("192.0.2.11", base)).toBe(true);
    expect(allowedSender("127.0.0.1", base)).toBe(true);
    expect(allowedSender("192.0.2.99", base)).toBe(false);
    expect(allowedSender("198.51.100.1", base)).toBe(false);
  });

  it("a responder answers a probe with its subnet and whether it knows the sender's lease", async () => {
    const r = await startProbeResponder({ ...base, host: "127.0.0.1", port: 0, log: memoryLogger() });
    try {
      const known = await probePeer({ address: "127.0.0.1", port: r.port, from: "10.244.1.0/24", timeoutMs: 2000 });
      expect(known.ok && known.reply).toEqual({
        id: expect.stringMatching(/^[0-9a-f]{16}$/),
        subnet: "10.244.2.0/24",
        knowsSender: true,
        publicIP: "192.0.2.12",
        backend: "vxlan",
        version: "1.0",
      });
      const stranger = await probePeer({ address: "127.0.0.1", port: r.port, from: "10.244.9.0/24" });
      expect(stranger.ok && stranger.reply.knowsSender).toBe(false);
    } finally {
      await r.close();
    }
  });

  it("a probe nobody answers says so after the wait", async () => {
    const out = await probePeer({ address: "127.0.0.1", port: 47_312, from: "", timeoutMs: 300 });
    expect(out).toEqual({ ok: false, error: expect.stringMatching(/no answer within 300 ms|ECONNREFUSED/) });
  });
});
