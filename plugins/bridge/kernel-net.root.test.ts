// Root tests of kernel-net.ts's ifindex cache (a link is addressed by the index of the command's own
// lookup): a link recreated meanwhile is found again by name, and kernel errors still name the link.
// (veth pairs: the VM kernel has no dummy driver.) Runs the bun driver testing/kernel-net-driver.ts inside a scratch
// netns; iproute2 is the oracle.
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BUN, Namespaces, ipj, runPrefix, sh } from "../../linux/testing/harness.ts";

const DRIVER = fileURLToPath(new URL("./testing/kernel-net-driver.ts", import.meta.url));
const spaces = new Namespaces(runPrefix());
let ns = "";

async function driver(...args: string[]): Promise<Record<string, unknown>> {
  const r = await execa("ip", ["netns", "exec", ns, BUN, DRIVER, ...args], { reject: false });
  if (r.exitCode !== 0) throw new Error(`driver ${args.join(" ")} exited ${r.exitCode}: ${String(r.stderr)}`);
  return JSON.parse(String(r.stdout)) as Record<string, unknown>;
}

beforeAll(async () => {
  ns = (await spaces.add("kn")).name;
});
afterAll(() => spaces.cleanup());

describe("kernel-net link addressing", () => {
  it("finds a link again by name when it was recreated after the lookup (stale ifindex)", async () => {
    await sh("ip", ["-n", ns, "link", "add", "d0", "type", "veth", "peer", "name", "d0p"]);
    const r = await driver("stale", "d0");
    const [link] = await ipj<{ ifindex: number; flags: string[] }[]>(ns, ["link", "show", "d0"]);
    expect(r["after"]).toBe(link?.ifindex);
    expect(r["after"]).not.toBe(r["before"]);
    expect(link?.flags).toContain("UP");
  });

  it("names the link, not its index, in a kernel refusal", async () => {
    await sh("ip", ["-n", ns, "link", "add", "d1", "type", "veth", "peer", "name", "d2"]);
    const r = await driver("error", "d1", "d2");
    const err = r["error"] as { message: string; code: string } | null;
    expect(err).not.toBeNull();
    expect(err?.message).toContain("d1");
    expect(err?.message).not.toMatch(/index \d/);
    const [link] = await ipj<{ master?: string }[]>(ns, ["link", "show", "d1"]);
    expect(link?.master).toBeUndefined();
  });

  it(
    "adds a pod route whose destination another interface already routes " +
      "(a second attachment's default route), as the reference's ECMP add does",
    async () => {
      for (const [a, b, ip] of [
        ["e0", "e0p", "10.244.250.2/24"],
        ["e1", "e1p", "10.244.250.3/24"],
      ] as const) {
        await sh("ip", ["-n", ns, "link", "add", a, "type", "veth", "peer", "name", b]);
        await sh("ip", ["-n", ns, "addr", "add", ip, "dev", a]);
        await sh("ip", ["-n", ns, "link", "set", a, "up"]);
        await sh("ip", ["-n", ns, "link", "set", b, "up"]);
      }
      const r = await driver("route", `/run/netns/${ns}`, "10.244.250.1", "e0", "e1");
      expect(r["errors"]).toEqual([]);
      const routes = await ipj<{ dst: string; gateway?: string; dev: string }[]>(ns, ["route", "show", "default"]);
      expect(routes.map((x) => `${x.dst} ${x.gateway ?? ""} ${x.dev}`).sort()).toEqual([
        "default 10.244.250.1 e0",
        "default 10.244.250.1 e1",
      ]);
      // the same route again is still refused
      const again = await driver("route", `/run/netns/${ns}`, "10.244.250.1", "e0");
      expect(String((again["errors"] as string[])[0])).toMatch(/EEXIST/);
    },
  );
});
