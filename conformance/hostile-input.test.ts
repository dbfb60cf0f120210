// Hostile input, each case on a fresh node: a DEL aimed at the node's own namespace, numbers no config
// can mean, FIFOs where state files belong, a corrupt saved delegate config, calls aimed at another pod's
// namespace, a reservation a killed writer left empty. Every case asserts what the call answers and that
// the node (links, addresses, routes) and the other pod are exactly as they were, run by the flannel exec
// itself and relayed to flanneld's CNI server.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CniServerProcess } from "../daemon/testing/cni-server-process.ts";
import { WEFT_PLUGIN_DIR, requireBuilt } from "../netns-fixtures/oracles/reference.ts";
import { ipJson, run } from "../netns-fixtures/topology/sh.ts";
import { Topology } from "../netns-fixtures/topology/topology.ts";
import { type PluginOutcome, callPlugin } from "./exec.ts";

const SUBNET_ENV =
  "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.9.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n";
/** No call may take this long: a FIFO read or opened blocking would hang until the test's timeout. */
const PROMPT_MS = 10_000;

/**
 * What a namespace looks like: links (name, kind, flags, master, MAC, MTU), addresses and routes. For
 * the node, `podEnds` leaves out the host ends of pods' veths (a pod's ADD and DEL add and remove those;
 * damage to another pod's shows in that pod).
 */
async function snapshot(ns: string, podEnds = true): Promise<unknown> {
  const all = await ipJson<Record<string, unknown>[]>(ns, ["-d", "link", "show"]);
  const isVeth = (l: Record<string, unknown>) =>
    (l["linkinfo"] as { info_kind?: string } | undefined)?.info_kind === "veth";
  const links = podEnds ? all : all.filter((l) => !isVeth(l));
  const names = new Set(links.map((l) => l["ifname"]));
  const addrs = await ipJson<{ ifname: string; addr_info: Record<string, unknown>[] }[]>(ns, ["addr", "show"]);
  // IPv6 link-local addresses come and go as the kernel configures a link coming up: not what a call did
  const onKept = (r: { dev?: string; dst?: string }) =>
    (r.dev === undefined || names.has(r.dev)) && !r.dst?.startsWith("fe80:");
  type Route = { dev?: string; dst?: string };
  const routes4 = (await ipJson<Route[]>(ns, ["route", "show", "table", "all"])).filter(onKept);
  const routes6 = (await ipJson<Route[]>(ns, ["-6", "route", "show", "table", "all"])).filter(onKept);
  return {
    links: links.map((l) => ({
      name: l["ifname"],
      flags: l["flags"],
      master: l["master"],
      mac: l["address"],
      mtu: l["mtu"],
      kind: (l["linkinfo"] as { info_kind?: string } | undefined)?.info_kind,
    })),
    addrs: addrs
      .filter((a) => names.has(a.ifname))
      .map((a) => ({
        ifname: a.ifname,
        addrs: a.addr_info
          .map((i) => `${String(i["local"])}/${String(i["prefixlen"])}`)
          .filter((x) => !x.startsWith("fe80:")),
      })),
    routes4,
    routes6,
  };
}

const modes = [
  { label: "the flannel exec", daemon: false },
  { label: "relayed to flanneld's CNI server", daemon: true },
] as const;

describe.each(modes)("hostile input changes nothing it must not [$label]", (mode) => {
  let topo: Topology;
  let node: string;
  let podA: string;
  let podB: string;
  let dir: string;
  let server: CniServerProcess | undefined;
  const bridge = () => `${topo.prefix}br`;

  beforeEach(async () => {
    requireBuilt();
    topo = new Topology();
    const [n] = await topo.underlay(1);
    node = n?.ns ?? "";
    await run("ip", ["-n", node, "route", "add", "default", "via", "192.0.2.1"]);
    podA = await topo.netns("podA");
    podB = await topo.netns("podB");
    dir = mkdtempSync(join(tmpdir(), `${topo.prefix}-hostile-`));
    writeFileSync(join(dir, "subnet.env"), SUBNET_ENV);
    if (mode.daemon) server = await CniServerProcess.start(node, join(dir, "cni.sock"));
  });
  afterEach(async () => {
    await server?.stop("SIGKILL");
    server = undefined;
    await topo.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  const conf = (extra: Record<string, unknown> = {}) => ({
    cniVersion: "1.0.0",
    name: "cbr0",
    type: "flannel",
    subnetFile: join(dir, "subnet.env"),
    dataDir: join(dir, "flannel"),
    ipam: { dataDir: join(dir, "ipam") },
    delegate: { bridge: bridge(), isDefaultGateway: true },
    ...extra,
  });
  const call = async (
    plugin: string,
    command: string,
    o: { netns: string; cid?: string; ifName?: string; c?: unknown; stdin?: string },
  ): Promise<PluginOutcome> => {
    const t0 = performance.now();
    const r = await callPlugin({
      plugin: join(WEFT_PLUGIN_DIR, plugin),
      command,
      ...(o.stdin !== undefined ? { stdin: o.stdin } : { conf: o.c ?? conf() }),
      node,
      netns: o.netns,
      path: WEFT_PLUGIN_DIR,
      containerID: o.cid ?? "cid-b",
      ifName: o.ifName ?? "eth0",
      extraEnv: mode.daemon ? {} : { WEFT_CNI_SOCKET: "" },
    });
    expect(performance.now() - t0, `${plugin} ${command} answered promptly`).toBeLessThan(PROMPT_MS);
    return r;
  };
  const flannel = (command: string, o: Parameters<typeof call>[2]) => call("flannel", command, o);
  const reservations = () => {
    const d = join(dir, "ipam", "cbr0");
    return existsSync(d) ? readdirSync(d).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f)) : [];
  };
  const saved = () => (existsSync(join(dir, "flannel")) ? readdirSync(join(dir, "flannel")) : []);
  /** Pod A attached through flannel (the other pod every case must leave alone). */
  const setUpA = async () => {
    const r = await flannel("ADD", { netns: `/run/netns/${podA}`, cid: "cid-a" });
    expect(r.code, r.stdout + r.stderr).toBe(0);
  };
  /** Run `fn`; the node (but for pods' host veth ends) and pod A must look exactly as before. */
  const unchanged = async (fn: () => Promise<void>) => {
    const before = [await snapshot(node, false), await snapshot(podA)];
    await fn();
    expect(await snapshot(node, false), "the node").toEqual(before[0]);
    expect(await snapshot(podA), "the other pod").toEqual(before[1]);
  };

  it("refuses DEL, ADD and CHECK aimed at the node's own namespace (any path to it) before touching it", async () => {
    await setUpA();
    await unchanged(async () => {
      for (const netns of [`/run/netns/${node}`, "/proc/self/ns/net"]) {
        for (const [plugin, c] of [
          ["flannel", conf()],
          ["bridge", { cniVersion: "1.0.0", name: "cbr0", type: "bridge", bridge: bridge(), ipam: {} }],
          ["loopback", { cniVersion: "1.0.0", name: "lo", type: "loopback" }],
        ] as const) {
          for (const command of ["DEL", "ADD", "CHECK"]) {
            // the bridge and loopback are exec'd directly, as a runtime does; only flannel relays
            const r = await call(plugin, command, { netns, c, cid: "cid-node" });
            expect(r.json, `${plugin} ${command} ${netns}`).toMatchObject({
              code: 8,
              msg: "plugin's netns and netns from CNI_NETNS should not be the same",
              details: expect.stringMatching(/^CNI_NETNS=\S+ is net:\[\d+\], the network namespace the plugin runs in/),
            });
          }
        }
      }
    });
    expect(reservations()).toHaveLength(1);
    expect(saved()).toEqual(["cid-a"]);
  });

  it("refuses numbers no config can mean (code 7 naming the key) and leaves nothing behind", async () => {
    await setUpA();
    await unchanged(async () => {
      const cases: [string, string, RegExp][] = [
        ["flannel", JSON.stringify(conf()).replace('"isDefaultGateway":true', '"mtu":1e400'), /"delegate\.mtu"/],
        ["flannel", JSON.stringify(conf({ delegate: { bridge: bridge(), mtu: -1 } })), /'delegate\.mtu'/],
        ["flannel", JSON.stringify(conf({ delegate: { bridge: bridge(), mtu: 1450.5 } })), /'delegate\.mtu'/],
        [
          "bridge",
          JSON.stringify({ cniVersion: "1.0.0", name: "cbr0", type: "bridge", bridge: bridge(), mtu: 1.5 }),
          /'mtu' must be an integer/,
        ],
        [
          "host-local",
          JSON.stringify({
            cniVersion: "1.0.0",
            name: "cbr0",
            ipam: { type: "host-local", subnet: "10.244.9.0/24", routes: [{ dst: "0.0.0.0/0", mtu: -1 }] },
          }),
          /ipam\.routes\[0\]\.mtu must be an integer from 0/,
        ],
      ];
      for (const [plugin, stdin, msg] of cases) {
        const r = await call(plugin, "ADD", { netns: `/run/netns/${podB}`, stdin });
        expect(r.json, `${plugin} ${stdin}`).toMatchObject({ code: 7, msg: expect.stringMatching(msg) });
      }
    });
    expect(await ipJson<unknown[]>(podB, ["link", "show", "eth0"]).catch(() => [])).toEqual([]);
    expect(reservations()).toHaveLength(1);
    expect(saved()).toEqual(["cid-a"]);
  });

  it("answers at once, with an error naming the file, when a FIFO stands where a state file belongs", async () => {
    await setUpA();
    const fifo = (path: string) => {
      mkdirSync(join(path, ".."), { recursive: true });
      rmSync(path, { force: true });
      execFileSync("mkfifo", [path]);
    };
    await unchanged(async () => {
      const env = join(dir, "fifo.env");
      fifo(env);
      const r1 = await flannel("ADD", { netns: `/run/netns/${podB}`, c: conf({ subnetFile: env }) });
      expect(r1.json).toMatchObject({ code: 7, msg: expect.stringContaining(`${env} is a FIFO, not a regular file`) });
      const b = `/run/netns/${podB}`;
      const resolv = join(dir, "resolv.fifo");
      fifo(resolv);
      const withResolv = conf({ ipam: { dataDir: join(dir, "ipam"), resolvConf: resolv } });
      const r2 = await flannel("ADD", { netns: b, c: withResolv });
      expect(r2.json).toMatchObject({
        code: 7,
        msg: expect.stringContaining(`${resolv} is a FIFO, not a regular file`),
      });
      // the runtime's DEL after the failed ADD (DEL reads no resolv.conf)
      expect((await flannel("DEL", { netns: b, c: withResolv })).code).toBe(0);
      const ipam2 = join(dir, "ipam2");
      const lock = join(ipam2, "cbr0", "lock");
      fifo(lock);
      const withLock = conf({ ipam: { dataDir: ipam2 } });
      const r3 = await flannel("ADD", { netns: b, c: withLock });
      expect(r3.json).toMatchObject({ code: 5, msg: expect.stringContaining(`${lock} is a FIFO, not a regular file`) });
      // DEL needs the lock too: an error as long as the FIFO is there, never a hang; then it cleans up
      expect((await flannel("DEL", { netns: b, c: withLock })).json).toMatchObject({ code: 5 });
      rmSync(lock);
      expect((await flannel("DEL", { netns: b, c: withLock })).code).toBe(0);
      // a saved delegate config that is a FIFO: DEL rebuilds it from subnet.env, cleans up, removes the FIFO
      fifo(join(dir, "flannel", "cid-fifo"));
      const r4 = await flannel("DEL", { netns: `/run/netns/${podB}`, cid: "cid-fifo" });
      expect(r4.code, r4.stdout + r4.stderr).toBe(0);
      expect(saved()).toEqual(["cid-a"]);
    });
    expect(await ipJson<unknown[]>(podB, ["link", "show", "eth0"]).catch(() => [])).toEqual([]);
    expect(reservations()).toHaveLength(1);
  });

  it("cleans up on DEL when the saved delegate config is corrupt, empty or missing", async () => {
    await setUpA();
    for (const damage of ["{not json", "", "missing"]) {
      const b = `/run/netns/${podB}`;
      const add = await flannel("ADD", { netns: b, cid: "cid-b" });
      expect(add.code, add.stdout + add.stderr).toBe(0);
      expect(reservations()).toHaveLength(2);
      if (damage === "missing") rmSync(join(dir, "flannel", "cid-b"));
      else writeFileSync(join(dir, "flannel", "cid-b"), damage);
      await unchanged(async () => {
        const del = await flannel("DEL", { netns: b, cid: "cid-b" });
        expect(del.code, `${JSON.stringify(damage)}: ${del.stdout}${del.stderr}`).toBe(0);
      });
      expect(reservations(), JSON.stringify(damage)).toHaveLength(1);
      expect(saved()).toEqual(["cid-a"]);
      expect((await ipJson<{ ifname: string }[]>(podB, ["link", "show"])).map((l) => l.ifname)).toEqual(["lo"]);
    }
  });

  it("leaves another pod alone when a DEL or a second ADD is aimed at its namespace", async () => {
    await setUpA();
    const a = `/run/netns/${podA}`;
    await unchanged(async () => {
      const del = await flannel("DEL", { netns: a, cid: "cid-b" });
      expect(del.code, del.stdout + del.stderr).toBe(0);
      const lo = await call("loopback", "DEL", {
        netns: a,
        cid: "cid-b",
        c: { cniVersion: "1.0.0", name: "lo", type: "loopback" },
      });
      expect(lo.code, lo.stdout).toBe(0);
      for (const ifName of ["eth1", "eth0"]) {
        const add = await flannel("ADD", { netns: a, cid: "cid-b", ifName });
        expect(add.json, ifName).toMatchObject({ code: 4 });
        // the runtime's DEL after the failed ADD must not hurt pod A either
        expect((await flannel("DEL", { netns: a, cid: "cid-b", ifName })).code).toBe(0);
      }
    });
    expect(reservations()).toHaveLength(1);
    expect(saved()).toEqual(["cid-a"]);
  });

  it("reclaims, under the lock, a reservation a killed writer left empty, and hands its address out", async () => {
    const net = join(dir, "ipam", "cbr0");
    mkdirSync(net, { recursive: true });
    // a /29: .1 is the gateway, .2 to .6 are allocatable; .3, .5 and .6 held, .4 by nobody (an empty file)
    writeFileSync(join(dir, "subnet.env"), SUBNET_ENV.replace("10.244.9.1/24", "10.244.9.1/29"));
    for (const n of [3, 5, 6]) writeFileSync(join(net, `10.244.9.${n}`), `holder-${n}\r\neth0`);
    writeFileSync(join(net, "10.244.9.4"), "");
    const a = await flannel("ADD", { netns: `/run/netns/${podA}`, cid: "cid-a" });
    expect(a.code, a.stdout + a.stderr).toBe(0);
    expect((a.json?.["ips"] as { address: string }[])[0]?.address).toBe("10.244.9.2/29");
    // the ADD read the directory under the lock, found the empty file, removed it and said so
    if (!mode.daemon) expect(a.stderr).toContain("reclaimed 10.244.9.4 of network cbr0: it was empty");
    await unchanged(async () => {
      const b = await flannel("ADD", { netns: `/run/netns/${podB}`, cid: "cid-b" });
      expect(b.code, b.stdout + b.stderr).toBe(0);
      expect((b.json?.["ips"] as { address: string }[])[0]?.address).toBe("10.244.9.4/29");
    });
    expect(reservations().sort()).toEqual(["10.244.9.2", "10.244.9.3", "10.244.9.4", "10.244.9.5", "10.244.9.6"]);
  });
});
