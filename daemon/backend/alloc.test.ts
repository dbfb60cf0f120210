import { describe, expect, it } from "vitest";
import { parseNetworkConfig } from "../config.ts";
import type { ExternalInterface } from "../iface.ts";
import { parseCidr } from "../../net/prefix.ts";
import { formatLeaseAttrs, type LeaseAttrs } from "../lease.ts";
import { memoryLogger } from "../testing/memory-logger.ts";
import { allocBackend } from "./alloc.ts";

const IFACE: ExternalInterface = { name: "eth0", index: 2, mtu: 1500, ipv4: "192.0.2.11", publicIP: "198.51.100.11" };
const net = (s: string) => parseCidr(s) ?? { family: 4 as const, ip: 0n, prefix: 0 };

describe("alloc backend", () => {
  it(
    "leases with the public IP only (no BackendType, as flannel), " +
      "ignores Backend.MTU for the interface MTU, and runs until stopped",
    async () => {
      const config = parseNetworkConfig(
        JSON.stringify({ Network: "10.244.0.0/16", Backend: { Type: "alloc", MTU: 1400 } }),
        "test",
      );
      let published: LeaseAttrs | undefined;
      const nw = await allocBackend(memoryLogger()).register({
        config,
        extIface: IFACE,
        acquire: async (attrs) => ((published = attrs), { subnet: net("10.244.1.0/24"), attrs }),
        log: memoryLogger(),
        signal: new AbortController().signal,
      });
      expect(formatLeaseAttrs(published ?? { PublicIP: "" })).toBe('{"PublicIP":"198.51.100.11","PublicIPv6":null}');
      expect(nw.mtu).toBe(1500);
      await nw.handleEvents([
        { type: "added", lease: { subnet: net("10.244.2.0/24"), attrs: { PublicIP: "192.0.2.12" } } },
      ]);
      const ac = new AbortController();
      const running = nw.run(ac.signal);
      ac.abort();
      await running;
    },
  );
});
