// The loopback plugin through the real entry (`bun bin/weft.ts loopback`) in namespaces made
// here, against the Debian reference plugin on the same input: same output, same kernel state.
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { BUN, Namespaces, ipj, runPrefix, sh } from "../../linux/testing/harness.ts";

const WEFT = fileURLToPath(new URL("../../bin/weft.ts", import.meta.url));
const REFERENCE = "/usr/lib/cni/loopback";
const prefix = runPrefix();
let nss: Namespaces;
let ns: { name: string; path: string };

beforeEach(async () => {
  nss = new Namespaces(prefix);
  ns = await nss.add("lo");
});
afterEach(async () => {
  await nss.cleanup();
});

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

async function plugin(which: "weft" | "reference", command: string, netns: string, conf: object): Promise<Run> {
  const [cmd, args] = which === "weft" ? [BUN, [WEFT, "loopback"]] : [REFERENCE, []];
  const r = await execa(cmd, args, {
    reject: false,
    input: JSON.stringify(conf),
    env: {
      CNI_COMMAND: command,
      CNI_CONTAINERID: "c1",
      CNI_NETNS: netns,
      CNI_IFNAME: "eth0",
      CNI_PATH: "/usr/lib/cni",
    },
    extendEnv: false,
  });
  return { code: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

async function loFlags(): Promise<string[]> {
  const [lo] = await ipj<{ flags: string[] }[]>(ns.name, ["link", "show", "lo"]);
  return lo?.flags ?? [];
}

const conf = (cniVersion: string, extra: object = {}): object => ({
  cniVersion,
  name: "lo-net",
  type: "loopback",
  ...extra,
});

describe("loopback plugin", () => {
  /** The reference's output without its always-present empty "dns" object. */
  function withoutEmptyDns(text: string): Record<string, unknown> {
    const o = JSON.parse(text) as Record<string, unknown>;
    if (JSON.stringify(o["dns"]) === "{}") delete o["dns"];
    return o;
  }

  it("[1.0.0] ADD brings lo up and prints what the reference prints", async () => {
    const ref = await plugin("reference", "ADD", ns.path, conf("1.0.0"));
    expect(ref.code).toBe(0);
    await sh("ip", ["-n", ns.name, "link", "set", "lo", "down"]);
    const ours = await plugin("weft", "ADD", ns.path, conf("1.0.0"));
    expect(ours.code, ours.stdout + ours.stderr).toBe(0);
    expect(JSON.parse(ours.stdout)).toEqual(withoutEmptyDns(ref.stdout));
    expect(await loFlags()).toContain("UP");
  });

  // The reference labels its 1.0.0-shaped result with the old version without converting it
  // (its Result carries the config's version, so PrintResult sees nothing to convert). We print
  // the shape that version defines, with the same content.
  it.each(["0.3.1", "0.4.0"])(
    "[%s] ADD prints the reference's content in the %s shape (ips with version)",
    async (v) => {
      const ref = withoutEmptyDns((await plugin("reference", "ADD", ns.path, conf(v))).stdout);
      const ours = await plugin("weft", "ADD", ns.path, conf(v));
      expect(ours.code, ours.stdout).toBe(0);
      const ips = (ref["ips"] as { address: string }[]).map((i) => ({
        version: i.address.includes(":") ? "6" : "4",
        ...i,
      }));
      expect(JSON.parse(ours.stdout)).toEqual({ ...ref, ips, dns: {} });
    },
  );

  it("[0.2.0] ADD prints lo's addresses as ip4 and ip6", async () => {
    const ours = await plugin("weft", "ADD", ns.path, conf("0.2.0"));
    expect(ours.code, ours.stdout).toBe(0);
    expect(JSON.parse(ours.stdout)).toEqual({
      cniVersion: "0.2.0",
      ip4: { ip: "127.0.0.1/8" },
      ip6: { ip: "::1/128" },
      dns: {},
    });
    expect(await loFlags()).toContain("UP");
  });

  it("[1.1.0] ADD reports lo, its MAC, the sandbox and 127.0.0.1/8 and ::1/128 on interface 0", async () => {
    const ours = await plugin("weft", "ADD", ns.path, conf("1.1.0"));
    expect(ours.code, ours.stdout).toBe(0);
    expect(JSON.parse(ours.stdout)).toEqual({
      cniVersion: "1.1.0",
      interfaces: [{ name: "lo", mac: "00:00:00:00:00:00", sandbox: ns.path }],
      ips: [
        { interface: 0, address: "127.0.0.1/8" },
        { interface: 0, address: "::1/128" },
      ],
    });
  });

  it("ADD with a prevResult passes it through like the reference", async () => {
    const prevResult = {
      cniVersion: "1.0.0",
      interfaces: [{ name: "eth0", sandbox: ns.path }],
      ips: [{ interface: 0, address: "10.244.1.5/24" }],
    };
    const ref = await plugin("reference", "ADD", ns.path, conf("1.0.0", { prevResult }));
    const ours = await plugin("weft", "ADD", ns.path, conf("1.0.0", { prevResult }));
    expect(ours.code).toBe(0);
    expect(JSON.parse(ours.stdout)).toEqual(withoutEmptyDns(ref.stdout));
  });

  it("CHECK succeeds while lo is up and fails like the reference once it is down", async () => {
    expect((await plugin("weft", "ADD", ns.path, conf("1.0.0"))).code).toBe(0);
    const ok = await plugin("weft", "CHECK", ns.path, conf("1.0.0"));
    expect([ok.code, ok.stdout]).toEqual([0, ""]);
    await sh("ip", ["-n", ns.name, "link", "set", "lo", "down"]);
    const ref = await plugin("reference", "CHECK", ns.path, conf("1.0.0"));
    const ours = await plugin("weft", "CHECK", ns.path, conf("1.0.0"));
    expect(ours.code).toBe(1);
    expect(JSON.parse(ours.stdout).msg).toBe(JSON.parse(ref.stdout).msg);
  });

  it("DEL sets lo down, and succeeds again once the netns is gone", async () => {
    expect((await plugin("weft", "ADD", ns.path, conf("1.0.0"))).code).toBe(0);
    const del = await plugin("weft", "DEL", ns.path, conf("1.0.0"));
    expect([del.code, del.stdout]).toEqual([0, ""]);
    expect(await loFlags()).not.toContain("UP");
    await nss.cleanup();
    const again = await plugin("weft", "DEL", ns.path, conf("1.0.0"));
    const ref = await plugin("reference", "DEL", ns.path, conf("1.0.0"));
    expect([again.code, again.stdout]).toEqual([ref.code, ref.stdout]);
    expect(again.code).toBe(0);
  });

  it("ADD into a missing netns fails with code 3 naming the path", async () => {
    const r = await plugin("weft", "ADD", `/run/netns/${prefix}gone`, conf("1.0.0"));
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ code: 3, msg: expect.stringContaining(`/run/netns/${prefix}gone`) });
  });
});
