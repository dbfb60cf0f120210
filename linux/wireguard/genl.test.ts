import { existsSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { NlWriter } from "../netlink/attrs.ts";
import { NLM_F_ACK, NLM_F_MULTI, NLM_F_REQUEST } from "../netlink/constants.ts";
import { encodeMessage, splitMessages, type NlMessage } from "../netlink/message.ts";
import {
  decodeDevice,
  decodeSockaddr,
  encodeSockaddr,
  getDeviceRequest,
  setDeviceRequests,
  WG_CMD,
  WGALLOWEDIP_A,
  WGDEVICE_A,
  WGDEVICE_F_REPLACE_PEERS,
  WGPEER_A,
  WGPEER_F,
} from "./genl.ts";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const fill = (byte: number) => Buffer.alloc(32, byte).toString("base64");
const rep = (byte: string, n: number) => byte.repeat(n);
const FAMILY = 0x1f;

describe("WG_CMD_SET_DEVICE", () => {
  it("lays out device and peer attributes as include/uapi/linux/wireguard.h documents them", () => {
    const [req, ...more] = setDeviceRequests(FAMILY, "wg0", {
      privateKey: fill(1),
      listenPort: 51820,
      replacePeers: true,
      peers: [
        {
          publicKey: fill(2),
          replaceAllowedIps: true,
          presharedKey: fill(3),
          endpoint: "192.0.2.12:51820",
          persistentKeepalive: 25,
          allowedIps: ["10.244.2.0/24"],
        },
      ],
    });
    expect(more).toEqual([]);
    if (!req) throw new Error("no request");
    const msg = encodeMessage(req, NLM_F_REQUEST | NLM_F_ACK, 1);
    // Every length below is counted by hand from the header's documentation.
    // One string per attribute, its fields separated by spaces (dropped before comparing).
    const want = [
      "e4000000 1f00 0500 01000000 00000000", // nlmsghdr: 228 bytes, the family's id, REQUEST|ACK, seq 1
      "01010000", // genlmsghdr: WG_CMD_SET_DEVICE, WG_GENL_VERSION 1
      `08000200 ${hex(Buffer.from("wg0\0"))}`, // WGDEVICE_A_IFNAME, NUL-terminated
      "08000500 01000000", // WGDEVICE_A_FLAGS = WGDEVICE_F_REPLACE_PEERS
      `24000300 ${rep("01", 32)}`, // WGDEVICE_A_PRIVATE_KEY, WG_KEY_LEN bytes
      "06000600 6cca 0000", // WGDEVICE_A_LISTEN_PORT (NLA_U16, host order), padding
      "94000880", // WGDEVICE_A_PEERS | NLA_F_NESTED, 148 bytes
      "90000080", // peer 0 | NLA_F_NESTED, 144 bytes
      `24000100 ${rep("02", 32)}`, // WGPEER_A_PUBLIC_KEY
      "08000300 02000000", // WGPEER_A_FLAGS = WGPEER_F_REPLACE_ALLOWEDIPS
      `24000200 ${rep("03", 32)}`, // WGPEER_A_PRESHARED_KEY
      `14000400 0200 ca6c c000020c ${rep("00", 8)}`, // WGPEER_A_ENDPOINT: sockaddr_in, port in network order
      "06000500 1900 0000", // WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL = 25 (NLA_U16)
      "20000980", // WGPEER_A_ALLOWEDIPS | NLA_F_NESTED, 32 bytes
      "1c000080", // allowed IP 0 | NLA_F_NESTED, 28 bytes
      "06000100 0200 0000", // WGALLOWEDIP_A_FAMILY = AF_INET
      "08000200 0af40200", // WGALLOWEDIP_A_IPADDR: struct in_addr
      "05000300 18 000000", // WGALLOWEDIP_A_CIDR_MASK = 24 (NLA_U8)
    ]
      .join("")
      .replaceAll(" ", "");
    expect(hex(msg)).toBe(want);
  });

  it("removes a peer with WGPEER_F_REMOVE_ME and clears keys with all zeros", () => {
    const [req] = setDeviceRequests(FAMILY, "flannel-wg", {
      privateKey: null,
      peers: [
        { publicKey: fill(9), remove: true },
        { publicKey: fill(8), presharedKey: null, updateOnly: true },
      ],
    });
    if (!req) throw new Error("no request");
    const body = hex(encodeMessage(req, NLM_F_REQUEST, 1).subarray(16));
    expect(body).toContain(`24000300${rep("00", 32)}`); // private key: zeros remove it
    expect(body).toContain(`24000100${rep("09", 32)}08000300${"01000000"}`); // REMOVE_ME
    expect(body).toContain(`08000300${"04000000"}24000200${rep("00", 32)}`); // UPDATE_ONLY, zero PSK
  });

  it("writes IPv6 endpoints as sockaddr_in6 and allowed IPs with AF_INET6", () => {
    const sa = encodeSockaddr("[2001:db8::12]:51821");
    expect(hex(sa)).toBe(`0a00ca6d00000000${"20010db8000000000000000000000012"}00000000`);
    expect(decodeSockaddr(sa)).toBe("[2001:db8::12]:51821");
    expect(decodeSockaddr(encodeSockaddr("192.0.2.12:51820"))).toBe("192.0.2.12:51820");
    const [req] = setDeviceRequests(FAMILY, "flannel-wg-v6", {
      peers: [{ publicKey: fill(2), allowedIps: ["fd00:10:244:2::/64"] }],
    });
    if (!req) throw new Error("no request");
    expect(hex(encodeMessage(req, NLM_F_REQUEST, 1))).toContain(
      `060001000a000000${"14000200"}fd000010024400020000000000000000${"05000300"}40`,
    );
    expect(() => encodeSockaddr("node1:51820")).toThrow();
  });

  it("splits many peers over several messages; only the first carries device fields and REPLACE_PEERS", () => {
    const peers = Array.from({ length: 300 }, (_, i) => ({
      publicKey: Buffer.alloc(32, i % 256).toString("base64"),
      endpoint: `192.0.2.${(i % 200) + 10}:51820`,
      allowedIps: [`10.${i >> 8}.${i & 255}.0/24`],
    }));
    const reqs = setDeviceRequests(
      FAMILY,
      "flannel-wg",
      { privateKey: fill(1), listenPort: 51820, replacePeers: true, peers },
      8192,
    );
    expect(reqs.length).toBeGreaterThan(2);
    const msgs = reqs.map((r) => splitMessages(encodeMessage(r, NLM_F_REQUEST, 1), 1 << 20)[0]);
    let seen = 0;
    for (const [i, m] of msgs.entries()) {
      if (!m) throw new Error("no message");
      expect(m.body.byteLength).toBeLessThanOrEqual(8192);
      const b = hex(m.body);
      expect(b.includes(`08000500${"01000000"}`)).toBe(i === 0);
      expect(b.includes("24000300")).toBe(i === 0);
      seen += (b.match(/24000100/g) ?? []).length;
    }
    expect(seen).toBe(300);
  });

  it("continues a peer with many allowed IPs in the next fragment (key and allowed IPs only)", () => {
    const ips = Array.from({ length: 300 }, (_, i) => `10.${i >> 8}.${i & 255}.0/24`);
    const reqs = setDeviceRequests(
      FAMILY,
      "flannel-wg",
      { peers: [{ publicKey: fill(5), replaceAllowedIps: true, endpoint: "192.0.2.5:1", allowedIps: ips }] },
      4096,
    );
    const bodies = reqs.map((r) => hex(encodeMessage(r, NLM_F_REQUEST, 1)));
    expect(bodies.length).toBeGreaterThan(1);
    expect(bodies.filter((b) => b.includes(`08000300${"02000000"}`))).toHaveLength(1); // REPLACE_ALLOWEDIPS once
    expect(bodies.every((b) => b.includes(`24000100${rep("05", 32)}`))).toBe(true);
    expect(bodies.reduce((n, b) => n + (b.match(/05000300/g) ?? []).length, 0)).toBe(300);
  });
});

/** A WG_CMD_GET_DEVICE reply message, built attribute by attribute. */
function getReply(fn: (w: NlWriter) => void): NlMessage {
  const w = new NlWriter();
  w.u32(0).u16(FAMILY).u16(NLM_F_MULTI).u32(1).u32(0).u8(WG_CMD.GET_DEVICE).u8(1).u16(0);
  fn(w);
  w.patchU32(0, w.length);
  const [m] = splitMessages(w.finish(), w.length);
  if (!m) throw new Error("no message");
  return m;
}

function peer(w: NlWriter, key: number, ips: string[], extra: (w: NlWriter) => void = () => undefined): void {
  w.nested(
    0,
    () => {
      w.attr(WGPEER_A.PUBLIC_KEY, Buffer.alloc(32, key));
      extra(w);
      w.nested(
        WGPEER_A.ALLOWEDIPS,
        () => {
          for (const ip of ips) {
            const [a, len] = ip.split("/");
            w.nested(
              0,
              () =>
                w
                  .attrU16(WGALLOWEDIP_A.FAMILY, 2)
                  .attr(WGALLOWEDIP_A.IPADDR, Uint8Array.from((a ?? "").split(".").map(Number)))
                  .attrU8(WGALLOWEDIP_A.CIDR_MASK, Number(len)),
              true,
            );
          }
        },
        true,
      );
    },
    true,
  );
}

describe("WG_CMD_GET_DEVICE", () => {
  it("asks by name as a dump request", () => {
    const body = hex(encodeMessage(getDeviceRequest(FAMILY, "flannel-wg"), NLM_F_REQUEST, 1).subarray(16));
    expect(body).toBe(`00010000${"0f000200"}${hex(Buffer.from("flannel-wg\0"))}00`);
  });

  it("decodes the device and merges a peer continued in the next message", () => {
    const first = getReply((w) => {
      w.attrU32(WGDEVICE_A.IFINDEX, 7)
        .attrStr(WGDEVICE_A.IFNAME, "flannel-wg")
        .attr(WGDEVICE_A.PRIVATE_KEY, Buffer.alloc(32, 1))
        .attr(WGDEVICE_A.PUBLIC_KEY, Buffer.alloc(32, 4))
        .attrU16(WGDEVICE_A.LISTEN_PORT, 51820)
        .attrU32(WGDEVICE_A.FWMARK, 0);
      w.nested(
        WGDEVICE_A.PEERS,
        () => {
          peer(w, 2, ["10.244.2.0/24"], (x) => {
            x.attr(WGPEER_A.PRESHARED_KEY, Buffer.alloc(32, 3))
              .attr(WGPEER_A.ENDPOINT, encodeSockaddr("192.0.2.12:51820"))
              .attrU16(WGPEER_A.PERSISTENT_KEEPALIVE_INTERVAL, 25);
            const ts = new Uint8Array(16);
            new DataView(ts.buffer).setBigInt64(0, 1_700_000_000n, true);
            x.attr(WGPEER_A.LAST_HANDSHAKE_TIME, ts);
            const rx = new Uint8Array(8);
            new DataView(rx.buffer).setBigUint64(0, 5_000_000_000n, true);
            x.attr(WGPEER_A.RX_BYTES, rx)
              .attr(WGPEER_A.TX_BYTES, new Uint8Array(8))
              .attrU32(WGPEER_A.PROTOCOL_VERSION, 1);
          });
          peer(w, 6, ["10.244.6.0/24"], (x) => x.attr(WGPEER_A.PRESHARED_KEY, Buffer.alloc(32, 0)));
        },
        true,
      );
    });
    const second = getReply((w) => {
      w.attrStr(WGDEVICE_A.IFNAME, "flannel-wg");
      w.nested(WGDEVICE_A.PEERS, () => peer(w, 6, ["10.244.7.0/24"]), true);
    });
    const dev = decodeDevice([first, second]);
    expect(dev).toMatchObject({
      name: "flannel-wg",
      index: 7,
      privateKey: fill(1),
      publicKey: fill(4),
      listenPort: 51820,
      fwmark: 0,
    });
    expect(dev.peers).toEqual([
      {
        publicKey: fill(2),
        presharedKey: fill(3),
        endpoint: "192.0.2.12:51820",
        persistentKeepalive: 25,
        lastHandshake: 1_700_000_000,
        rxBytes: 5_000_000_000n,
        txBytes: 0n,
        allowedIps: ["10.244.2.0/24"],
        protocolVersion: 1,
      },
      {
        publicKey: fill(6),
        persistentKeepalive: 0,
        lastHandshake: 0,
        rxBytes: 0n,
        txBytes: 0n,
        allowedIps: ["10.244.6.0/24", "10.244.7.0/24"],
        protocolVersion: 0,
      },
    ]);
  });
});

const HEADER = "/usr/include/linux/wireguard.h";

/** The members of `enum name { ... }` in order, as the C compiler numbers them (no explicit values). */
function enumMembers(text: string, name: string): string[] {
  const m = new RegExp(`enum ${name} \\{([^}]*)\\}`).exec(text);
  return (m?.[1] ?? "")
    .split(",")
    .map((s) => s.trim().split(/\s|=/)[0] ?? "")
    .filter((s) => s !== "" && !s.startsWith("__"));
}

describe.runIf(existsSync(HEADER))(`numbers against ${HEADER}`, () => {
  const text = existsSync(HEADER) ? readFileSync(HEADER, "utf8") : "";
  const check = (enumName: string, prefix: string, table: Record<string, number>) => {
    const members = enumMembers(text, enumName);
    for (const [k, v] of Object.entries(table)) expect(members.indexOf(`${prefix}${k}`), `${prefix}${k}`).toBe(v);
  };

  it("has the header's commands and attribute numbers", () => {
    expect(text).toMatch(/#define WG_GENL_NAME "wireguard"/);
    expect(text).toMatch(/#define WG_GENL_VERSION 1\b/);
    check("wg_cmd", "WG_CMD_", WG_CMD);
    check("wgdevice_attribute", "WGDEVICE_A_", WGDEVICE_A);
    check("wgpeer_attribute", "WGPEER_A_", WGPEER_A);
    check("wgallowedip_attribute", "WGALLOWEDIP_A_", WGALLOWEDIP_A);
  });

  it("has the header's flag bits", () => {
    expect(text).toMatch(/WGDEVICE_F_REPLACE_PEERS = 1U << 0/);
    expect(WGDEVICE_F_REPLACE_PEERS).toBe(1 << 0);
    expect(text).toMatch(/WGPEER_F_REMOVE_ME = 1U << 0/);
    expect(text).toMatch(/WGPEER_F_REPLACE_ALLOWEDIPS = 1U << 1/);
    expect(text).toMatch(/WGPEER_F_UPDATE_ONLY = 1U << 2/);
    expect(WGPEER_F).toEqual({ REMOVE_ME: 1 << 0, REPLACE_ALLOWEDIPS: 1 << 1, UPDATE_ONLY: 1 << 2 });
  });
});
