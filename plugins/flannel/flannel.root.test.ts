// Root tests of the flannel chain through the compiled binary: flannel -> bridge -> host-local in one
// process, and with WEFT_NO_INPROCESS=1 exec'ing Debian's reference bridge and host-local. Prints
// ADD/DEL timings of both.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { callPlugin } from "../../conformance/exec.ts";
import {
  REFERENCE_PLUGIN_DIR,
  referencePlugin,
  requireBuilt,
  WEFT_BIN,
  WEFT_PLUGIN_DIR,
} from "../../netns-fixtures/oracles/reference.ts";
import { ipJson, runIn } from "../../netns-fixtures/topology/sh.ts";
import { Topology } from "../../netns-fixtures/topology/topology.ts";

describe("flannel chain through the binary", () => {
  let topo: Topology;
  let node: string;
  let pod: string;
  let dir: string;
  let onlyFlannel: string;
  beforeAll(() => {
    requireBuilt();
    referencePlugin("bridge");
    referencePlugin("host-local");
  });
  beforeEach(async () => {
    topo = new Topology();
    node = await topo.netns("node");
    pod = await topo.netns("pod");
    dir = mkdtempSync(join(tmpdir(), `${topo.prefix}-flannel-`));
    onlyFlannel = join(dir, "bin");
    mkdirSync(onlyFlannel);
    symlinkSync(WEFT_BIN, join(onlyFlannel, "flannel"));
    writeFileSync(
      join(dir, "subnet.env"),
      "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.3.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n",
    );
  });
  afterEach(async () => {
    rmSync(dir, { recursive: true, force: true });
    await topo.cleanup();
  });

  const conf = (v = "1.0.0") => ({
    cniVersion: v,
    name: "cbr0",
    type: "flannel",
    subnetFile: join(dir, "subnet.env"),
    dataDir: join(dir, "flannel"),
    ipam: { dataDir: join(dir, "ipam") },
    delegate: { bridge: "wfl0", isDefaultGateway: true },
  });
  const call = (command: string, path: string, env: Record<string, string> = {}, cid = "cid-fl") =>
    callPlugin({
      plugin: join(onlyFlannel, "flannel"),
      command,
      conf: conf(),
      node,
      netns: `/run/netns/${pod}`,
      path,
      containerID: cid,
      extraEnv: env,
    });

  async function expectPodReady(): Promise<void> {
    const [eth0] = await ipJson<{ mtu: number; addr_info: { local: string; prefixlen: number; family: string }[] }[]>(
      pod,
      ["addr", "show", "eth0"],
    );
    expect(eth0?.mtu).toBe(1450);
    expect(eth0?.addr_info.filter((a) => a.family === "inet").map((a) => `${a.local}/${a.prefixlen}`)).toEqual([
      "10.244.3.2/24",
    ]);
    const routes = await ipJson<{ dst: string; gateway?: string }[]>(pod, ["route", "show"]);
    expect(routes).toContainEqual(expect.objectContaining({ dst: "10.244.0.0/16", gateway: "10.244.3.1" }));
    expect((await runIn(pod, "ping", ["-c1", "-W2", "10.244.3.1"], { allowFail: true })).exitCode).toBe(0);
    const nat = (await runIn(node, "iptables", ["-w", "-t", "nat", "-S", "POSTROUTING"])).stdout;
    expect(nat).toMatch(/-s 10\.244\.3\.2\/32 .*-j CNI-[0-9a-f]{24}/);
  }

  it("runs flannel -> bridge -> host-local in one process: CNI_PATH holds nothing but flannel", async () => {
    const add = await call("ADD", onlyFlannel);
    expect(add.code, add.stdout + add.stderr).toBe(0);
    expect(add.json?.["ips"]).toEqual([{ address: "10.244.3.2/24", gateway: "10.244.3.1", interface: 2 }]);
    await expectPodReady();
    expect(existsSync(join(dir, "ipam", "cbr0", "10.244.3.2"))).toBe(true);
    const del = await call("DEL", onlyFlannel);
    expect(del.code, del.stdout + del.stderr).toBe(0);
    expect(existsSync(join(dir, "flannel", "cid-fl"))).toBe(false);
    expect(existsSync(join(dir, "ipam", "cbr0", "10.244.3.2"))).toBe(false);
    expect((await runIn(node, "iptables", ["-w", "-t", "nat", "-S"])).stdout).not.toMatch(/CNI-[0-9a-f]{24}/);
  });

  it("dual stack: the pod gets both lease addresses and routes to both cluster networks via the bridge", async () => {
    writeFileSync(
      join(dir, "subnet.env"),
      "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.3.1/24\nFLANNEL_IPV6_NETWORK=fd00:244::/56\n" +
        "FLANNEL_IPV6_SUBNET=fd00:244:0:3::1/64\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n",
    );
    const add = await callPlugin({
      plugin: join(onlyFlannel, "flannel"),
      command: "ADD",
      conf: conf("1.1.0"),
      node,
      netns: `/run/netns/${pod}`,
      path: onlyFlannel,
      containerID: "cid-ds",
    });
    expect(add.code, add.stdout + add.stderr).toBe(0);
    expect(add.json?.["ips"]).toEqual([
      { address: "10.244.3.2/24", gateway: "10.244.3.1", interface: 2 },
      { address: "fd00:244:0:3::2/64", gateway: "fd00:244:0:3::1", interface: 2 },
    ]);
    expect(await ipJson(pod, ["-6", "route", "show"])).toContainEqual(
      expect.objectContaining({ dst: "fd00:244::/56", gateway: "fd00:244:0:3::1" }),
    );
    const [br] = await ipJson<{ addr_info: { local: string; prefixlen: number; scope: string }[] }[]>(node, [
      "addr",
      "show",
      "wfl0",
    ]);
    expect(br?.addr_info.filter((a) => a.scope === "global").map((a) => `${a.local}/${a.prefixlen}`)).toEqual([
      "10.244.3.1/24",
      "fd00:244:0:3::1/64",
    ]);
    const del = await callPlugin({
      plugin: join(onlyFlannel, "flannel"),
      command: "DEL",
      conf: conf("1.1.0"),
      node,
      netns: `/run/netns/${pod}`,
      path: onlyFlannel,
      containerID: "cid-ds",
    });
    expect(del.code, del.stdout).toBe(0);
  });

  it("STATUS says code 50 while subnet.env is missing and succeeds once flanneld wrote it", async () => {
    const status = () =>
      callPlugin({
        plugin: join(onlyFlannel, "flannel"),
        command: "STATUS",
        conf: conf("1.1.0"),
        node,
        path: onlyFlannel,
        omit: ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"],
      });
    const env = readFileSync(join(dir, "subnet.env"), "utf8");
    rmSync(join(dir, "subnet.env"));
    const down = await status();
    expect(down.code).toBe(1);
    expect(down.json?.["code"]).toBe(50);
    expect(String(down.json?.["msg"])).toContain(join(dir, "subnet.env"));
    writeFileSync(join(dir, "subnet.env"), env);
    const up = await status();
    expect(up.code, up.stdout + up.stderr).toBe(0);
  });

  it("with WEFT_NO_INPROCESS=1 it execs bridge from CNI_PATH (and fails to find it where there is none)", async () => {
    const missing = await call("ADD", onlyFlannel, { WEFT_NO_INPROCESS: "1" });
    expect(missing.code).toBe(1);
    expect(String(missing.json?.["msg"])).toMatch(/failed to find plugin "bridge"/);
  });

  it("with WEFT_NO_INPROCESS=1 it drives the reference bridge and host-local", async () => {
    const env = { WEFT_NO_INPROCESS: "1" };
    const add = await call("ADD", REFERENCE_PLUGIN_DIR, env);
    expect(add.code, add.stdout + add.stderr).toBe(0);
    await expectPodReady();
    const saved = JSON.parse(readFileSync(join(dir, "flannel", "cid-fl"), "utf8")) as Record<string, unknown>;
    expect(saved["type"]).toBe("bridge");
    const del = await call("DEL", REFERENCE_PLUGIN_DIR, env);
    expect(del.code, del.stdout + del.stderr).toBe(0);
    expect(await ipJson(pod, ["link", "show", "eth0"]).catch(() => [])).toEqual([]);
    expect(existsSync(join(dir, "ipam", "cbr0", "10.244.3.2"))).toBe(false);
  });

  it("times ADD+DEL of the in-process chain against the exec'd reference chain", async () => {
    const rounds = 5;
    const time = async (path: string, env: Record<string, string>): Promise<{ add: number; del: number }> => {
      const adds: number[] = [];
      const dels: number[] = [];
      for (let i = 0; i < rounds; i++) {
        let t = performance.now();
        const a = await call("ADD", path, env, `cid-t${i}`);
        adds.push(performance.now() - t);
        expect(a.code, a.stdout).toBe(0);
        t = performance.now();
        const d = await call("DEL", path, env, `cid-t${i}`);
        dels.push(performance.now() - t);
        expect(d.code, d.stdout).toBe(0);
      }
      const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)] ?? 0;
      return { add: median(adds), del: median(dels) };
    };
    const ours = await time(`${WEFT_PLUGIN_DIR}`, {});
    const ref = await time(REFERENCE_PLUGIN_DIR, { WEFT_NO_INPROCESS: "1" });
    console.log(
      `flannel chain, median of ${rounds} (ms, includes ip netns exec + env): ` +
        `in-process ADD ${ours.add.toFixed(1)} DEL ${ours.del.toFixed(1)}; exec'd ` +
        `reference bridge+host-local ADD ${ref.add.toFixed(1)} DEL ${ref.del.toFixed(1)}`,
    );
    expect(ours.add).toBeGreaterThan(0);
  });
});
