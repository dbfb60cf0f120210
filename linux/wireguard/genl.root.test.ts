// Generic netlink against this machine's kernel, through linux/testing/genl.ts (bun) in a netns of
// ours: the controller resolves and dumps families. This kernel has no WireGuard: resolving the
// family and creating a "wireguard" link must say so (the backend then falls back to wireguard-go).
// On a kernel with WireGuard the driver sets and reads a device instead, checked with wg show.
import { existsSync } from "node:fs";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BUN, DRIVERS, Namespaces, runPrefix } from "../testing/harness.ts";

interface Out {
  nlctrl: { id: number; name: string; version: number };
  families: string[];
  wireguard: { ok: boolean; family?: { id: number }; error?: { name: string; code: string } };
  link: { ok: boolean; kind?: string; error?: { code: string; errno: number; message: string } };
  device?: {
    listenPort: number;
    publicKey: string;
    peers: { publicKey: string; endpoint: string; allowedIps: string[]; persistentKeepalive: number }[];
  };
}

describe("generic netlink on this kernel", () => {
  const ns = new Namespaces(runPrefix());
  let out: Out;
  let name = "";
  beforeAll(async () => {
    name = (await ns.add("g")).name;
    const probe = async (mode: string) => {
      const r = await execa("ip", ["netns", "exec", name, BUN, `${DRIVERS}genl.ts`, mode], { reject: false });
      if (r.exitCode !== 0) throw new Error(`genl driver: ${String(r.stderr)}`);
      return JSON.parse(String(r.stdout)) as Out;
    };
    out = await probe("probe");
    if (out.link.ok) {
      await execa("ip", ["-n", name, "link", "del", "wgtest0"], { reject: false });
      out = await probe("full");
    }
  });
  afterAll(() => ns.cleanup());

  it("resolves the controller's own family by name (id 0x10) and dumps the family list", () => {
    expect(out.nlctrl).toMatchObject({ id: 0x10, name: "nlctrl" });
    expect(out.families).toContain("nlctrl");
  });

  it("agrees with the family list about WireGuard: resolved when listed, else a clear 'not loaded' error", () => {
    if (out.families.includes("wireguard")) expect(out.wireguard.ok).toBe(true);
    else expect(out.wireguard.error).toMatchObject({ name: "WireguardFamilyMissingError", code: "ENOENT" });
  });

  it("creating a wireguard link fails with EOPNOTSUPP exactly when the kernel has no WireGuard", () => {
    if (out.families.includes("wireguard")) expect(out.link).toMatchObject({ ok: true, kind: "wireguard" });
    else expect(out.link.error).toMatchObject({ code: "EOPNOTSUPP", errno: 95 });
  });

  it.runIf(existsSync("/sys/module/wireguard"))("sets and reads a kernel WireGuard device over generic netlink", () => {
    expect(out.device).toMatchObject({
      listenPort: 51820,
      peers: [
        {
          publicKey: Buffer.alloc(32, 2).toString("base64"),
          endpoint: "192.0.2.12:51820",
          allowedIps: ["10.244.2.0/24"],
          persistentKeepalive: 25,
        },
      ],
    });
  });
});
