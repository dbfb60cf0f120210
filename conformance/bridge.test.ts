// The bridge plugin with host-local through the plugin binaries (bridge, veth and eth0 with the
// gateway, L2 mode, hairpin and MTU, masquerade, CHECK, DEL, error codes), per spec version, for
// each implementation, in a fresh node + pod netns per case.
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ipJson, run } from "../netns-fixtures/topology/sh.ts";
import { Topology } from "../netns-fixtures/topology/topology.ts";
import { callPlugin, type PluginCall } from "./exec.ts";
import { atLeast, implsUnderTest, versionsOf, DIFFERENCES } from "./impls.ts";

type Iface = { name: string; mac?: string; sandbox?: string };

describe.each(implsUnderTest())("bridge plugin [$label]", (impl) => {
  let topo: Topology;
  let node: string;
  let pod: string;
  let dataDir: string;
  beforeEach(async () => {
    topo = new Topology();
    node = await topo.netns("node");
    pod = await topo.netns("pod");
    dataDir = mkdtempSync(join(tmpdir(), `${topo.prefix}-ipam-`));
  });
  afterEach(async () => {
    rmSync(dataDir, { recursive: true, force: true });
    await topo.cleanup();
  });

  const conf = (v: string, extra: Record<string, unknown> = {}) => ({
    cniVersion: v,
    name: "brnet",
    type: "bridge",
    bridge: "cni0",
    isDefaultGateway: true,
    ipMasq: false,
    ipam: { type: "host-local", ranges: [[{ subnet: "10.244.9.0/24" }]], dataDir },
    ...extra,
  });
  const call = (command: string, c: unknown, more: Partial<PluginCall> = {}) =>
    callPlugin({
      plugin: join(impl.pluginDir, "bridge"),
      command,
      conf: c,
      node,
      netns: `/run/netns/${pod}`,
      path: impl.pluginDir,
      containerID: "cid-bridge",
      ...more,
    });
  const ipFiles = () => readdirSync(join(dataDir, "brnet")).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f));

  it.each(versionsOf(impl))("[%s] ADD makes bridge, veth and eth0 with the gateway, DEL removes them", async (v) => {
    const add = await call("ADD", conf(v));
    expect(add.code, add.stdout + add.stderr).toBe(0);
    if (atLeast(v, "0.3.0")) {
      const ifs = add.json?.["interfaces"] as Iface[];
      expect(ifs.map((i) => i.name)).toEqual(["cni0", expect.stringMatching(/^veth[0-9a-f]{8}$/), "eth0"]);
      for (const i of ifs) expect(i.mac).toHaveLength(17);
      expect(ifs[2]?.sandbox).toBe(`/run/netns/${pod}`);
      const live = await ipJson<{ address: string }[]>(node, ["link", "show", "cni0"]);
      expect(ifs[0]?.mac).toBe(live[0]?.address);
      const ips = add.json?.["ips"] as { address: string; gateway: string; version?: string }[];
      expect(ips[0]).toMatchObject({ address: "10.244.9.2/24", gateway: "10.244.9.1" });
      expect(ips[0]?.version).toBe(atLeast(v, "1.0.0") ? undefined : "4");
    } else {
      expect(add.json?.["ip4"]).toMatchObject({ ip: "10.244.9.2/24", gateway: "10.244.9.1" });
    }
    const br = await ipJson<{ addr_info: { local: string; prefixlen: number; family: string }[] }[]>(node, [
      "addr",
      "show",
      "cni0",
    ]);
    expect(br[0]?.addr_info.filter((a) => a.family === "inet").map((a) => `${a.local}/${a.prefixlen}`)).toEqual([
      "10.244.9.1/24",
    ]);
    const routes = await ipJson<{ dst: string; gateway?: string }[]>(pod, ["route", "show"]);
    expect(routes).toContainEqual(expect.objectContaining({ dst: "default", gateway: "10.244.9.1" }));
    expect(
      (await run("ip", ["netns", "exec", pod, "ping", "-c1", "-W2", "10.244.9.1"], { allowFail: true })).exitCode,
    ).toBe(0);

    const again = await call("ADD", conf(v));
    expect(again.code).toBe(1);

    if (atLeast(v, "0.4.0")) {
      const prevResult = add.json;
      const check = await call("CHECK", { ...conf(v), prevResult });
      expect(check.code, check.stdout + check.stderr).toBe(0);
    }
    const del = await call("DEL", conf(v));
    expect(del.code, del.stdout).toBe(0);
    expect(await ipJson(pod, ["link", "show", "eth0"]).catch(() => [])).toEqual([]);
    expect(await ipJson(node, ["link", "show", "master", "cni0"])).toEqual([]);
    expect(ipFiles()).toEqual([]);
    const del2 = await call("DEL", conf(v));
    expect(del2.code, del2.stdout).toBe(0);
  });

  it("L2 mode (ipam {}) works from 0.3.0 and cannot be expressed in 0.2.0", async () => {
    const l2 = (v: string) => ({ ...conf(v), ipam: {}, isDefaultGateway: false });
    const ok = await call("ADD", l2("0.3.1"));
    expect(ok.code, ok.stdout).toBe(0);
    expect(ok.json?.["ips"]).toBeUndefined();
    await call("DEL", l2("0.3.1"));
    const bad = await call("ADD", l2("0.2.0"), { containerID: "cid-l2-020", ifName: "eth1" });
    expect(bad.code).toBe(1);
    expect(bad.json?.["msg"]).toMatch(/cannot convert: no valid IP addresses/);
  });

  it("DEL succeeds and releases the address when the pod netns is already gone", async () => {
    const add = await call("ADD", conf("1.0.0"));
    expect(add.code, add.stdout).toBe(0);
    expect(ipFiles()).toHaveLength(1);
    await run("ip", ["netns", "del", pod]);
    const del = await call("DEL", conf("1.0.0"));
    expect(del.code, del.stdout + del.stderr).toBe(0);
    expect(ipFiles()).toEqual([]);
  });

  it("refuses a second gateway address on the bridge and releases the address it got", async () => {
    await run("ip", ["-n", node, "link", "add", "cni0", "type", "bridge"]);
    await run("ip", ["-n", node, "addr", "add", "10.244.8.1/24", "dev", "cni0"]);
    const add = await call("ADD", conf("1.0.0"));
    expect(add.code).toBe(1);
    expect(add.json?.["msg"]).toMatch(/already has an IP address different from 10\.244\.9\.1\/24/);
    expect(ipFiles()).toEqual([]);
    // The reference undoes only the IPAM allocation and leaves the veth pair behind (DIFFERENCES.failedAddLeak).
    const leftover = await ipJson(pod, ["link", "show", "eth0"]).catch(() => []);
    expect(leftover).toHaveLength(impl.isOurs ? 0 : 1);
    // our code for this: a config/state conflict the operator must fix (7); the reference says 999
    expect(add.json?.["code"]).toBe(impl.isOurs ? 7 : 999);
  });

  it("ipMasq installs a per-container NAT chain and DEL removes it", async () => {
    const add = await call("ADD", conf("1.0.0", { ipMasq: true }));
    expect(add.code, add.stdout).toBe(0);
    const nat = (await run("ip", ["netns", "exec", node, "iptables", "-t", "nat", "-S"])).stdout;
    expect(nat).toMatch(/-A POSTROUTING -s 10\.244\.9\.2\/32 .*-j CNI-[0-9a-f]{24}/);
    expect(nat).toMatch(/name: \\?"brnet\\?" id: \\?"cid-bridge\\?"/);
    const del = await call("DEL", conf("1.0.0", { ipMasq: true }));
    expect(del.code, del.stdout).toBe(0);
    const after = (await run("ip", ["netns", "exec", node, "iptables", "-t", "nat", "-S"])).stdout;
    expect(after).not.toMatch(/CNI-[0-9a-f]{24}/);
  });

  it("hairpinMode and mtu reach the host veth and eth0", async () => {
    const add = await call("ADD", conf("1.0.0", { hairpinMode: true, mtu: 1400 }));
    expect(add.code, add.stdout).toBe(0);
    const ports = await ipJson<{ mtu: number; linkinfo?: { info_slave_data?: { hairpin?: boolean } } }[]>(node, [
      "-d",
      "link",
      "show",
      "master",
      "cni0",
    ]);
    expect(ports[0]?.linkinfo?.info_slave_data?.hairpin).toBe(true);
    expect(ports[0]?.mtu).toBe(1400);
    expect((await ipJson<{ mtu: number }[]>(pod, ["link", "show", "eth0"]))[0]?.mtu).toBe(1400);
  });

  it("error codes: " + DIFFERENCES.errorCodes, async () => {
    const r = await call(
      "ADD",
      conf("1.0.0", { ipam: { type: "host-local", ranges: [[{ subnet: "10.244.9.0/31" }]], dataDir } }),
    );
    expect(r.code).toBe(1);
    expect(r.json?.["code"]).toBe(impl.isOurs ? 7 : 999);
  });
});
