import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { answerErrno, decodeGet, encodeSet, UapiError, uapiSocketPath } from "./uapi.ts";

const key = (b: number) => Buffer.alloc(32, b).toString("base64");
const hexKey = (b: string) => b.repeat(32);

describe("UAPI set", () => {
  it("writes device keys first, then each peer starting with public_key, keys in hex", () => {
    const text = encodeSet({
      privateKey: key(1),
      listenPort: 51820,
      replacePeers: true,
      peers: [
        {
          publicKey: key(2),
          presharedKey: key(3),
          endpoint: "192.0.2.12:51820",
          persistentKeepalive: 25,
          replaceAllowedIps: true,
          allowedIps: ["10.244.2.0/24", "fd00:10:244:2::/64"],
        },
        { publicKey: key(6), remove: true },
        { publicKey: key(7), updateOnly: true, presharedKey: null, endpoint: "[2001:db8::12]:51821" },
      ],
    });
    expect(text).toBe(
      [
        "set=1",
        `private_key=${hexKey("01")}`,
        "listen_port=51820",
        "replace_peers=true",
        `public_key=${hexKey("02")}`,
        `preshared_key=${hexKey("03")}`,
        "endpoint=192.0.2.12:51820",
        "persistent_keepalive_interval=25",
        "replace_allowed_ips=true",
        "allowed_ip=10.244.2.0/24",
        "allowed_ip=fd00:10:244:2::/64",
        `public_key=${hexKey("06")}`,
        "remove=true",
        `public_key=${hexKey("07")}`,
        "update_only=true",
        `preshared_key=${hexKey("00")}`,
        "endpoint=[2001:db8::12]:51821",
        "",
        "",
      ].join("\n"),
    );
  });

  it("refuses values that would break or extend the protocol text", () => {
    expect(() => encodeSet({ peers: [{ publicKey: key(2), endpoint: "192.0.2.12:51820\nremove=true" }] })).toThrow(
      /endpoint/,
    );
    expect(() => encodeSet({ peers: [{ publicKey: key(2), endpoint: "node1:51820" }] })).toThrow();
    expect(() => encodeSet({ peers: [{ publicKey: key(2), allowedIps: ["10.244.2.0/24\nremove=true"] }] })).toThrow();
    expect(() => encodeSet({ listenPort: 70000 })).toThrow(/listen port/);
    expect(() => encodeSet({ peers: [{ publicKey: "x" }] })).toThrow(/not valid/);
  });
});

describe("UAPI get", () => {
  const answer = readFileSync(join(import.meta.dirname, "testdata", "wireguard-go-get.txt"), "utf8");

  it("decodes wireguard-go's answer: device, peers, no PSK for all zeros", () => {
    const dev = decodeGet(answer);
    expect(dev.privateKey).toBe(Buffer.from(`00${"01".repeat(30)}41`, "hex").toString("base64"));
    expect(dev.listenPort).toBe(51820);
    expect(dev.peers).toEqual([
      {
        publicKey: key(2),
        presharedKey: key(3),
        protocolVersion: 1,
        endpoint: "192.0.2.12:51820",
        lastHandshake: 0,
        txBytes: 0n,
        rxBytes: 0n,
        persistentKeepalive: 25,
        allowedIps: ["10.244.2.0/24", "fd00:10:244:2::/64"],
      },
      {
        publicKey: key(6),
        protocolVersion: 1,
        endpoint: "[2001:db8::12]:51821",
        lastHandshake: 0,
        txBytes: 0n,
        rxBytes: 0n,
        persistentKeepalive: 0,
        allowedIps: ["10.244.6.0/24"],
      },
    ]);
  });

  it("knows a complete answer by its errno line and reports failures by errno name", () => {
    expect(answerErrno("errno=0\n")).toBeUndefined();
    expect(answerErrno("listen_port=1\n")).toBeUndefined();
    expect(answerErrno("errno=-22\n\n")).toBe(-22);
    expect(() => decodeGet("errno=-22\n\n")).toThrow(UapiError);
    expect(() => decodeGet("errno=-22\n\n")).toThrow(/EINVAL/);
    expect(() => decodeGet("private_key=00\n")).toThrow(/incomplete/);
  });

  it("puts the socket where wireguard-go does", () => {
    expect(uapiSocketPath("flannel-wg")).toBe("/var/run/wireguard/flannel-wg.sock");
  });
});
