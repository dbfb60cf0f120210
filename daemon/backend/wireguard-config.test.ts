import { describe, expect, it } from "vitest";
import { ConfigError, parseNetworkConfig } from "../config.ts";
import { wireguardOptions } from "./wireguard-config.ts";

const backend = (b: Record<string, unknown>) =>
  parseNetworkConfig(
    JSON.stringify({ Network: "10.244.0.0/16", Backend: { Type: "wireguard", ...b } }),
    "net-conf.json",
  ).backend;

describe("wireguard backend config", () => {
  it("is a supported backend type with flanneld's defaults", () => {
    const b = backend({});
    expect(b.type).toBe("wireguard");
    expect(wireguardOptions(b)).toEqual({ listenPort: 51820, listenPortV6: 51821, keepalive: 0, mode: "separate" });
  });

  it("reads every key, case-insensitively like Go", () => {
    const psk = Buffer.alloc(32, 7).toString("base64");
    expect(
      wireguardOptions(
        backend({
          listenport: 5000,
          LISTENPORTV6: 5001,
          psk,
          persistentKeepaliveInterval: 25,
          mode: "auto",
          MTU: 1400,
        }),
      ),
    ).toEqual({ listenPort: 5000, listenPortV6: 5001, psk, keepalive: 25, mode: "auto" });
    expect(backend({ MTU: 1400 }).mtu).toBe(1400);
    for (const mode of ["separate", "auto", "ipv4", "ipv6"])
      expect(wireguardOptions(backend({ Mode: mode })).mode).toBe(mode);
  });

  it("names the key and the fix for bad values", () => {
    const err = (b: Record<string, unknown>) => {
      try {
        wireguardOptions(backend(b));
      } catch (e) {
        expect(e).toBeInstanceOf(ConfigError);
        return `${(e as ConfigError).key}: ${(e as Error).message}`;
      }
      return "no error";
    };
    expect(err({ Mode: "both" })).toMatch(/^Backend\.Mode: .*"separate", "auto", "ipv4", "ipv6"/);
    expect(err({ ListenPort: 0 })).toMatch(/^Backend\.ListenPort: .*a UDP port/);
    expect(err({ ListenPortV6: "51821" })).toMatch(/^Backend\.ListenPortV6:/);
    expect(err({ PersistentKeepaliveInterval: -1 })).toMatch(/^Backend\.PersistentKeepaliveInterval: .*seconds/);
    expect(err({ PSK: "secret" })).toMatch(/^Backend\.PSK: .*wg genpsk/);
    expect(err({ PSK: "secret" })).not.toMatch(/secret/); // the key's text is not echoed
  });
});
