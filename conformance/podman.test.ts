// Drop-in check under a real runtime: podman 4.3 with its CNI backend, isolated from the system
// (netns-fixtures/podman/podman.ts), runs busybox containers on our plugins and on the reference ones.
// Pod traffic stays on the per-run bridge: container <-> container and container <-> gateway only.
// Install: scripts/install-podman.sh. If podman cannot run here, every test is skipped with the
// precise reason found at runtime.
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { CniServerProcess } from "../daemon/testing/cni-server-process.ts";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  cachedResults,
  CNI_CACHE_DIR,
  containerView,
  natRulesFor,
  podmanPrerequisiteProblem,
  PodmanEnv,
  removeHostLeftovers,
  type ContainerView,
} from "../netns-fixtures/podman/podman.ts";
import { REFERENCE_PLUGIN_DIR, requireBuilt, WEFT_BIN } from "../netns-fixtures/oracles/reference.ts";
import { ipJson, run } from "../netns-fixtures/topology/sh.ts";
import { runPrefix } from "../netns-fixtures/topology/topology.ts";

async function podmanUnavailable(): Promise<string | undefined> {
  const problem = podmanPrerequisiteProblem();
  if (problem) return problem;
  const env = await PodmanEnv.create({ prefix: `${runPrefix()}p`, pluginDirs: [REFERENCE_PLUGIN_DIR] }).catch(
    (e: unknown) => String(e),
  );
  if (typeof env === "string") return `podman cannot import an image: ${env}`;
  try {
    return await env.probe();
  } finally {
    await env.teardown();
  }
}

const unavailable = await podmanUnavailable();
if (unavailable) console.warn(`conformance/podman: skipped: ${unavailable}`);

interface Mode {
  readonly label: string;
  /** plugin dirs (CNI_PATH order) built from a snapshot of our binary in `dir` */
  readonly dirs: (dir: string) => string[];
  /** true when CNI_PATH starts with logging wrappers around the reference bridge + host-local */
  readonly wrapped: boolean;
}

const MODES: readonly Mode[] = [
  { label: "weft (dist/bin)", dirs: (d) => [join(d, "weft"), join(d, "extra")], wrapped: false },
  {
    label: "reference (/usr/lib/cni + weft flannel)",
    dirs: (d) => [join(d, "wrap"), REFERENCE_PLUGIN_DIR, join(d, "flannel-only")],
    wrapped: true,
  },
];

/**
 * Our binary is copied so a concurrent `npm run build` cannot swap it mid-test; `weft/` holds the
 * role links like dist/bin, `extra/` the reference tuning plugin (chained after our bridge; we ship
 * none), `flannel-only/` just flannel, `wrap/` logs each call of bridge and
 * host-local to `calls.log` and execs the reference binary.
 */
function pluginTree(dir: string): void {
  const bin = join(dir, "bin-weft");
  copyFileSync(realpathSync(requireBuilt(WEFT_BIN)), bin);
  for (const sub of ["weft", "flannel-only", "wrap", "extra"]) mkdirSync(join(dir, sub));
  symlinkSync(join(REFERENCE_PLUGIN_DIR, "tuning"), join(dir, "extra", "tuning"));
  for (const role of ["bridge", "host-local", "loopback", "flannel"]) symlinkSync(bin, join(dir, "weft", role));
  symlinkSync(bin, join(dir, "flannel-only", "flannel"));
  for (const p of ["bridge", "host-local"]) {
    const script =
      `#!/bin/sh\necho "$CNI_COMMAND ${p} $CNI_CONTAINERID" >> ${join(dir, "calls.log")}\n` +
      `exec ${join(REFERENCE_PLUGIN_DIR, p)} "$@"\n`;
    writeFileSync(join(dir, "wrap", p), script, { mode: 0o755 });
  }
}

/** What each mode's first bridge and flannel containers looked like, for the cross-mode comparison. */
const views = new Map<string, { bridge?: ContainerView; flannel?: ContainerView }>();

const skipNote = unavailable ? ` (skipped: ${unavailable})` : "";

describe.skipIf(unavailable !== undefined).each(MODES)(`podman with the CNI backend on $label${skipNote}`, (mode) => {
  const prefix = runPrefix();
  const bridgeNet = `${prefix}-br`;
  const flannelNet = `${prefix}-fl`;
  const br0 = `${prefix}br0`;
  const br1 = `${prefix}br1`;
  const netnsPaths: string[] = [];
  let plugins: string;
  let env: PodmanEnv;
  let ipam: string;

  beforeAll(async () => {
    plugins = mkdtempSync(join(tmpdir(), `${prefix}-plugins-`));
    pluginTree(plugins);
    env = await PodmanEnv.create({ prefix, pluginDirs: mode.dirs(plugins) });
    ipam = join(env.dir, "ipam");
  });

  afterAll(async () => {
    await env?.teardown();
    await removeHostLeftovers({
      networks: [bridgeNet, `${bridgeNet}c`, `${bridgeNet}t`, flannelNet],
      bridges: [br0, br1],
      netnsPaths,
    });
    if (plugins) rmSync(plugins, { recursive: true, force: true });
  });

  const start = async (name: string, net: string): Promise<string> => {
    const r = await env.runSleeper(name, net, { allowFail: true });
    expect(r.exitCode, `podman run ${name}: ${r.stderr}`).toBe(0);
    return r.stdout.trim();
  };
  const pingFrom = (name: string, ip: string) =>
    env.podman(["exec", name, "ping", "-c1", "-W2", ip], { allowFail: true });

  it(
    "a bridge + host-local network (1.0.0): two containers get " +
      "IPs from the range and reach each other and the gateway",
    async () => {
      env.writeConflist({
        cniVersion: "1.0.0",
        name: bridgeNet,
        plugins: [
          {
            type: "bridge",
            bridge: br0,
            isGateway: true,
            ipMasq: false,
            hairpinMode: true,
            ipam: { type: "host-local", dataDir: ipam, ranges: [[{ subnet: "10.244.250.0/24" }]] },
          },
        ],
      });
      const t0 = performance.now();
      const id1 = await start("b1", bridgeNet);
      const id2 = await start("b2", bridgeNet);
      console.info(`[${mode.label}] two podman run -d on bridge: ${Math.round(performance.now() - t0)} ms`);
      const v1 = await containerView(env, "b1", id1, bridgeNet);
      const v2 = await containerView(env, "b2", id2, bridgeNet);
      netnsPaths.push(v1.sandbox, v2.sandbox);
      for (const v of [v1, v2]) {
        expect(v.cidr).toMatch(/^10\.244\.250\.\d+\/24$/);
        expect(v.inspect).toEqual({ ip: v.ip, prefixLen: 24, gateway: "10.244.250.1", mac: v.mac });
        expect(readFileSync(join(ipam, bridgeNet, v.ip), "utf8").startsWith(v.id)).toBe(true);
      }
      expect(v1.ip).not.toBe(v2.ip);
      const addrs = await ipJson<{ addr_info: { local: string; prefixlen: number }[] }[]>(undefined, [
        "addr",
        "show",
        "dev",
        br0,
      ]);
      expect(addrs[0]?.addr_info).toContainEqual(expect.objectContaining({ local: "10.244.250.1", prefixlen: 24 }));
      expect((await pingFrom("b1", v2.ip)).exitCode).toBe(0);
      expect((await pingFrom("b2", v1.ip)).exitCode).toBe(0);
      expect((await pingFrom("b1", "10.244.250.1")).exitCode).toBe(0);
      views.set(mode.label, { bridge: v1 });
    },
  );

  it(
    "podman stored the plugin's 1.0.0 result: bridge, " + "host veth and eth0 in the container's netns, the IP on eth0",
    () => {
      const v = views.get(mode.label)?.bridge;
      expect(v).toBeDefined();
      if (!v) return;
      expect(v.result["cniVersion"]).toBe("1.0.0");
      expect(v.result["interfaces"]).toEqual([
        { name: br0, mac: expect.stringMatching(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/) },
        { name: v.hostVeth, mac: expect.stringMatching(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/) },
        { name: "eth0", mac: v.mac, sandbox: v.sandbox },
      ]);
      expect(v.result["ips"]).toEqual([{ address: v.cidr, gateway: "10.244.250.1", interface: 2 }]);
    },
  );

  it("podman restart runs DEL then ADD: the container is reachable again and holds exactly one IP", async () => {
    const v = views.get(mode.label)?.bridge;
    await env.podman(["restart", "-t", "0", "b2"]);
    const id2 = (await env.podman(["inspect", "--format", "{{.Id}}", "b2"])).stdout.trim();
    const again = await containerView(env, "b2", id2, bridgeNet);
    netnsPaths.push(again.sandbox);
    expect(again.inspect.ip).toBe(again.ip);
    expect((await pingFrom("b1", again.ip)).exitCode).toBe(0);
    const held = (await run("ls", [join(ipam, bridgeNet)])).stdout
      .split("\n")
      .filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f));
    expect(held.sort()).toEqual([v?.ip ?? "", again.ip].sort());
  });

  it("--ip and --mac-address reach host-local and bridge through the ips and mac capabilities", async () => {
    const net = `${bridgeNet}c`;
    env.writeConflist({
      cniVersion: "1.0.0",
      name: net,
      plugins: [
        {
          type: "bridge",
          bridge: br0,
          isGateway: true,
          ipMasq: false,
          capabilities: { ips: true, mac: true },
          ipam: { type: "host-local", dataDir: ipam, ranges: [[{ subnet: "10.244.250.0/24" }]] },
        },
      ],
    });
    const r = await env.podman(
      [
        "run",
        "-d",
        "--name",
        "s1",
        "--cgroup-parent",
        `/${prefix}`,
        "--network",
        net,
        "--ip",
        "10.244.250.77",
        "--mac-address",
        "0a:58:0a:f4:fa:4d",
        env.image,
        "sleep",
        "100000",
      ],
      { allowFail: true },
    );
    expect(r.exitCode, r.stderr).toBe(0);
    const v = await containerView(env, "s1", r.stdout.trim(), net);
    netnsPaths.push(v.sandbox);
    expect(v.cidr).toBe("10.244.250.77/24");
    expect(v.mac).toBe("0a:58:0a:f4:fa:4d");
    expect(existsSync(join(ipam, net, "10.244.250.77"))).toBe(true);
    await env.podman(["rm", "-f", "-t", "0", "s1"]);
    expect(existsSync(join(ipam, net, "10.244.250.77"))).toBe(false);
    expect(cachedResults(net)).toEqual([]);
  });

  it(
    "a 0.4.0 conflist chaining the reference tuning plugin after " +
      "bridge: tuning gets bridge's prevResult and sets the sysctl",
    async () => {
      const net = `${bridgeNet}t`;
      env.writeConflist({
        cniVersion: "0.4.0",
        name: net,
        plugins: [
          {
            type: "bridge",
            bridge: br0,
            isGateway: true,
            ipMasq: false,
            ipam: { type: "host-local", dataDir: ipam, ranges: [[{ subnet: "10.244.250.0/24" }]] },
          },
          { type: "tuning", sysctl: { "net.ipv4.conf.eth0.arp_notify": "1" } },
        ],
      });
      const id = await start("t1", net);
      const v = await containerView(env, "t1", id, net);
      netnsPaths.push(v.sandbox);
      expect((await env.podman(["exec", "t1", "cat", "/proc/sys/net/ipv4/conf/eth0/arp_notify"])).stdout.trim()).toBe(
        "1",
      );
      expect(v.result["cniVersion"]).toBe("0.4.0");
      expect(v.result["ips"]).toEqual([{ version: "4", address: v.cidr, gateway: "10.244.250.1", interface: 2 }]);
      expect(v.inspect.ip).toBe(v.ip);
      await env.podman(["rm", "-f", "-t", "0", "t1"]);
      expect(existsSync(join(ipam, net, v.ip))).toBe(false);
      expect(cachedResults(net)).toEqual([]);
    },
  );

  it("podman rm -f runs DEL: the IP files, host veths, netns files and cached results are gone", async () => {
    const v = views.get(mode.label)?.bridge;
    const t0 = performance.now();
    await env.podman(["rm", "-f", "-t", "0", "b1", "b2"]);
    console.info(`[${mode.label}] podman rm -f of two containers: ${Math.round(performance.now() - t0)} ms`);
    expect(existsSync(join(ipam, bridgeNet, v?.ip ?? "none"))).toBe(false);
    const left = (await run("ls", [join(ipam, bridgeNet)])).stdout
      .split("\n")
      .filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f));
    expect(left).toEqual([]);
    expect(cachedResults(bridgeNet)).toEqual([]);
    for (const p of netnsPaths) expect(existsSync(p)).toBe(false);
    expect((await run("ip", ["link", "show", v?.hostVeth ?? "none"], { allowFail: true })).exitCode).not.toBe(0);
  });

  /** Two containers on a flannel network; with a CNI server beside subnet.env when `server` is given. */
  async function flannelPair(names: [string, string], server?: (socket: string) => Promise<CniServerProcess>) {
    const subnetEnv = join(env.dir, "subnet.env");
    writeFileSync(
      subnetEnv,
      "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.251.1/24\nFLANNEL_MTU=1400\nFLANNEL_IPMASQ=false\n",
    );
    env.writeConflist({
      cniVersion: "1.0.0",
      name: flannelNet,
      plugins: [
        {
          type: "flannel",
          subnetFile: subnetEnv,
          dataDir: join(env.dir, "flannel"),
          ipam: { dataDir: ipam },
          delegate: { bridge: br1, hairpinMode: true },
        },
      ],
    });
    const daemon = server ? await server(join(env.dir, "cni.sock")) : undefined;
    const [n1, n2] = names;
    const id1 = await start(n1, flannelNet);
    const id2 = await start(n2, flannelNet);
    const v1 = await containerView(env, n1, id1, flannelNet);
    const v2 = await containerView(env, n2, id2, flannelNet);
    netnsPaths.push(v1.sandbox, v2.sandbox);
    for (const v of [v1, v2]) {
      expect(v.cidr).toMatch(/^10\.244\.251\.\d+\/24$/);
      expect(v.mtu).toBe(1400);
      expect(v.routes).toContain("10.244.0.0/16 via 10.244.251.1 dev eth0");
      expect(v.inspect.gateway).toBe("10.244.251.1");
      const saved = JSON.parse(readFileSync(join(env.dir, "flannel", v.id), "utf8")) as Record<string, unknown>;
      expect(saved).toMatchObject({
        type: "bridge",
        bridge: br1,
        name: flannelNet,
        mtu: 1400,
        ipMasq: true,
        isGateway: true,
      });
      expect(
        (await natRulesFor(flannelNet)).some((l) => l.includes(v.id) && l.startsWith(`-A POSTROUTING -s ${v.ip}/32 `)),
      ).toBe(true);
    }
    expect(v1.result["routes"]).toEqual([{ dst: "10.244.0.0/16" }]);
    expect((await pingFrom(n1, v2.ip)).exitCode).toBe(0);
    expect((await pingFrom(n2, "10.244.251.1")).exitCode).toBe(0);
    return { v1, v2, daemon };
  }

  it("a flannel network delegates to bridge + host-local: MTU, flannel route, masquerade, reachability", async () => {
    const { v1 } = await flannelPair(["f1", "f2"]);
    views.set(mode.label, { ...views.get(mode.label), flannel: v1 });
  });

  it("with flanneld's CNI server beside subnet.env, podman's flannel calls run in the daemon", async () => {
    const { daemon } = await flannelPair(["f3", "f4"], (socket) => CniServerProcess.start("", socket));
    try {
      expect(daemon?.calls.filter((c) => c === "ADD 0")).toHaveLength(2);
    } finally {
      await daemon?.stop();
    }
  });

  // The wrappers first on CNI_PATH log every exec of bridge and host-local. A reference flannel
  // execs the `bridge` found first on CNI_PATH (invoke.DelegateAdd), which execs host-local the same way.
  it.runIf(mode.wrapped)(
    "flannel execs the delegate bridge found first on CNI_PATH, which execs host-local from CNI_PATH",
    () => {
      const log = existsSync(join(plugins, "calls.log"))
        ? readFileSync(join(plugins, "calls.log"), "utf8").split("\n")
        : [];
      const calls = (v: ContainerView | undefined) =>
        log.filter((l) => v !== undefined && l.startsWith("ADD ") && l.endsWith(` ${v.id}`));
      const { bridge, flannel } = views.get(mode.label) ?? {};
      // the oracle works: podman's own exec of the reference bridge, and its host-local, were logged
      expect(calls(bridge)).toEqual([`ADD bridge ${bridge?.id}`, `ADD host-local ${bridge?.id}`]);
      expect(calls(flannel)).toEqual([`ADD bridge ${flannel?.id}`, `ADD host-local ${flannel?.id}`]);
    },
  );

  it("podman rm -f of the flannel containers removes their saved configs, IPs and masquerade rules", async () => {
    // f3 and f4 were added through the CNI server, which is gone now: their DEL runs in the exec
    await env.podman(["rm", "-f", "-t", "0", "f1", "f2", "f3", "f4"]);
    expect((await run("ls", ["-A", join(env.dir, "flannel")])).stdout.trim()).toBe("");
    const left = (await run("ls", [join(ipam, flannelNet)])).stdout
      .split("\n")
      .filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f));
    expect(left).toEqual([]);
    expect(await natRulesFor(flannelNet)).toEqual([]);
    expect(cachedResults(flannelNet)).toEqual([]);
    expect(existsSync(CNI_CACHE_DIR) ? cachedResults(bridgeNet) : []).toEqual([]);
  });
});

describe.skipIf(unavailable !== undefined)(
  `podman sees the same network from weft and from the reference${skipNote}`,
  () => {
    const shape = (v: ContainerView | undefined) =>
      v && {
        prefixLen: v.inspect.prefixLen,
        gateway: v.inspect.gateway,
        mtu: v.mtu,
        routes: v.routes.map((r) => r.replace(/src \S+/, "src X")),
        resultKeys: Object.keys(v.result).sort(),
      };

    it("same prefix, gateway, routes, MTU and result shape inside the containers", () => {
      const [a, b] = MODES.map((m) => views.get(m.label));
      expect(a && b, "both modes must have run").toBeTruthy();
      expect(shape(a?.bridge)).toEqual(shape(b?.bridge));
      expect(shape(a?.flannel)).toEqual(shape(b?.flannel));
    });

    // Debian's plugins 1.1.1 build the veth with a zero-valued Go LinkAttrs and so ask the kernel for
    // txqueuelen 0; upstream fixed that in plugins v1.6.0 (containernetworking/plugins#1100) and
    // keeps the kernel default, 1000, like weft. Asserted on each side so a change shows up.
    it("the container's veth keeps the kernel's default txqueuelen (1000); the Debian reference sets 0", () => {
      const [a, b] = MODES.map((m) => views.get(m.label));
      expect(a?.bridge?.txQueueLen).toBe(1000);
      expect(b?.bridge?.txQueueLen).toBe(0);
    });
  },
);
