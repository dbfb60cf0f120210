import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { defaultPoolSize, networkReservations } from "./inventory.ts";

const root = mkdtempSync(join(tmpdir(), "weft-inventory-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("host-local inventory", () => {
  it("lists every network directory's reservations, skipping the lock and last_reserved_ip files", () => {
    const dir = join(root, "networks");
    mkdirSync(join(dir, "cbr0"), { recursive: true });
    mkdirSync(join(dir, "empty"));
    writeFileSync(join(dir, "cbr0", "10.244.1.2"), "abc\r\neth0");
    writeFileSync(join(dir, "cbr0", "10.244.1.3"), "legacy-id");
    writeFileSync(join(dir, "cbr0", "lock"), "");
    writeFileSync(join(dir, "cbr0", "last_reserved_ip.0"), "10.244.1.3");
    writeFileSync(join(dir, "stray-file"), "x");
    const got = networkReservations(dir).map((n) => ({
      network: n.network,
      ips: n.reservations.map((r) => [r.ip, r.containerID, r.ifname]).sort(),
    }));
    expect(got).toEqual([
      {
        network: "cbr0",
        ips: [
          ["10.244.1.2", "abc", "eth0"],
          ["10.244.1.3", "legacy-id", undefined],
        ],
      },
      { network: "empty", ips: [] },
    ]);
  });

  it("a data dir that does not exist has no networks", () => {
    expect(networkReservations(join(root, "nope"))).toEqual([]);
  });

  it("pool size: IPv4 loses network, gateway and broadcast; IPv6 network and gateway; too small is 0", () => {
    expect(defaultPoolSize("10.244.1.0/24")).toBe(253);
    expect(defaultPoolSize("10.244.1.1/24")).toBe(253);
    expect(defaultPoolSize("10.244.0.0/28")).toBe(13);
    expect(defaultPoolSize("fd00:10:244:1::/120")).toBe(254);
    expect(defaultPoolSize("10.244.1.0/31")).toBe(0);
    expect(defaultPoolSize("bogus")).toBe(0);
  });
});
