import { describe, expect, it } from "vitest";
import { parseCidr } from "../net/prefix.ts";
import { parseNetworkConfig } from "./config.ts";
import { controlPlaneOnly } from "./control-plane-only.ts";
import type { LeaseAttrs } from "./lease.ts";
import { createLogger } from "./log.ts";

/** FLANNEL_MTU the control-plane-only data plane computes for `backend` on a 1500-byte NIC. */
async function mtuOf(backend: Record<string, unknown>, ipv6 = false): Promise<number> {
  const lines: string[] = [];
  const log = createLogger({ write: (l) => void lines.push(l) });
  const cfg = parseNetworkConfig(
    JSON.stringify({
      Network: "10.244.0.0/16",
      ...(ipv6 ? { EnableIPv6: true, IPv6Network: "fd00:10:244::/56" } : {}),
      Backend: backend,
    }),
    "test",
  );
  const type = cfg.backend.type;
  const backendOf = controlPlaneOnly(log).backend(type);
  if (!backendOf) throw new Error(`no ${type} backend`);
  const subnet = parseCidr("10.244.3.0/24");
  if (!subnet) throw new Error("bad test subnet");
  const net = await backendOf.register({
    config: cfg,
    extIface: { name: "eth0", index: 2, mtu: 1500, ipv4: "192.0.2.10", ipv6: "2001:db8::10" },
    acquire: async (attrs: LeaseAttrs) => ({ subnet, attrs }),
    log,
    signal: AbortSignal.abort(),
  });
  expect(lines.join("")).toContain("no device, routes or rules are programmed");
  return net.mtu;
}

describe("the control-plane-only data plane's FLANNEL_MTU", () => {
  it("takes each backend's encapsulation from the NIC's MTU, as the kernel backends do", async () => {
    expect(await mtuOf({ Type: "vxlan" })).toBe(1450);
    expect(await mtuOf({ Type: "vxlan" }, true)).toBe(1430);
    expect(await mtuOf({ Type: "host-gw" })).toBe(1500);
    expect(await mtuOf({ Type: "udp" })).toBe(1472);
    expect(await mtuOf({ Type: "ipip" })).toBe(1480);
    expect(await mtuOf({ Type: "wireguard" })).toBe(1420);
  });

  it("starts from Backend.MTU when it is set, except for ipip (flannel reads none there)", async () => {
    expect(await mtuOf({ Type: "vxlan", MTU: 1400 })).toBe(1350);
    expect(await mtuOf({ Type: "udp", MTU: 1400 })).toBe(1372);
    expect(await mtuOf({ Type: "wireguard", MTU: 1400 })).toBe(1320);
    expect(await mtuOf({ Type: "ipip", MTU: 1400 })).toBe(1480);
  });
});
