// End to end: flanneld's CNI server under load. 50 pods added at once on one node through the real
// cnitool -> flannel exec -> relay -> flanneld, while lease events arrive and the periodic reconcile
// runs; then every link, address and route must be in the namespace it belongs to, and DEL of all 50
// at once must leave nothing.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WeftCluster, subnetOf } from "../netns-fixtures/topology/cluster.ts";
import { cnitool } from "../netns-fixtures/topology/cni.ts";
import { WEFT_PLUGIN_DIR } from "../netns-fixtures/oracles/reference.ts";
import { ipJson, runIn } from "../netns-fixtures/topology/sh.ts";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { implsUnderTest } from "./impls.ts";

const ours = implsUnderTest().some((i) => i.isOurs);
const PODS = 50;
// 5,000 rounds: 10,000 calls (an ADD and a DEL each)
const ROUNDS = Number(process.env["WEFT_CNI_MEMORY_ROUNDS"] ?? 5000);
const WARM_UP = 500;
const BUN = join(import.meta.dirname, "..", "node_modules", ".bin", "bun");
const RAW = join(import.meta.dirname, "..", "daemon", "testing", "cni-raw-client.ts");

/** RssAnon of a process, in KiB. */
function rssAnonKiB(pid: number): number {
  const m = /RssAnon:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(m?.[1] ?? Number.NaN);
}

/**
 * RssAnon once the process has settled: the smallest of samples over 3 s (the engine hands freed
 * pages back a little after a collection; one sample may catch it in the middle).
 */
async function settledRssAnonKiB(pid: number): Promise<number> {
  let least = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 10; i++) {
    await new Promise((r) => setTimeout(r, 300));
    least = Math.min(least, rssAnonKiB(pid));
  }
  return least;
}

interface Link {
  readonly ifname: string;
  readonly link_type?: string;
  readonly master?: string;
  readonly linkinfo?: { info_kind?: string };
}
interface Addr {
  readonly ifname: string;
  readonly addr_info: { family: string; local: string; prefixlen: number }[];
}
interface Route {
  readonly dst: string;
  readonly gateway?: string;
  readonly dev?: string;
}

describe.runIf(ours)("flanneld's CNI server: 50 concurrent ADDs during lease events and reconciles", () => {
  const c = new WeftCluster({ nodes: 2, backend: "vxlan", flags: ["--v=1"], env: { WEFT_RECONCILE_MS: "200" } });
  const pods: string[] = [];
  beforeAll(async () => {
    await c.start();
    for (let i = 0; i < PODS; i++) pods.push(await c.topo.netns(`cp${i}`));
  }, 180_000);
  afterAll(() => c.teardown(), 120_000);

  const node = () => {
    const n = c.nodes[0];
    if (!n) throw new Error("no node");
    return n;
  };
  const runtime = { cnitool: join(WEFT_PLUGIN_DIR, "cnitool"), pluginPath: [WEFT_PLUGIN_DIR] };
  const all = (cmd: "add" | "del") =>
    Promise.all(
      pods.map((ns) =>
        cnitool(runtime, node().scratch, { node: node().ns, cmd, net: "cbr0", netnsPath: `/run/netns/${ns}` }),
      ),
    );

  /** Peer leases coming and going (nodes that do not exist) from 4 writers until `stop()`. */
  function churn(): { stop(): Promise<number>; events(): number } {
    let done = false;
    let events = 0;
    const writer = async (w: number) => {
      for (let i = w; !done; i += 4) {
        const n = 200 + (i % 40);
        const key = `/coreos.com/network/subnets/10.244.${n}.0-24`;
        const mac = `0e:00:00:00:00:${(i % 40).toString(16).padStart(2, "0")}`;
        const lease = { PublicIP: `192.0.2.${n}`, BackendType: "vxlan", BackendData: { VNI: 1, VtepMAC: mac } };
        if (i % 3 === 2) await c.etcd?.del(key);
        else await c.etcd?.put(key, JSON.stringify(lease));
        events++;
      }
    };
    const writers = Promise.all([0, 1, 2, 3].map(writer));
    return {
      events: () => events,
      stop: async () => {
        done = true;
        await writers;
        return events;
      },
    };
  }

  it("puts every pod's interface, address and routes in its own namespace, and nothing in the node's", async () => {
    node().scratch.writeConf("10-flannel.conflist", {
      name: "cbr0",
      cniVersion: "1.1.0",
      plugins: [
        {
          type: "flannel",
          subnetFile: join(node().scratch.root, "subnet.env"),
          dataDir: join(node().scratch.root, "flannel"),
          ipam: { dataDir: node().scratch.dataDir },
          delegate: { hairpinMode: true, isDefaultGateway: true },
        },
      ],
    });
    const events = churn();
    const t0 = Date.now();
    while (events.events() < 4 && Date.now() - t0 < 20_000) await new Promise((r) => setTimeout(r, 20));
    const before = events.events();
    const results = await all("add");
    const during = events.events() - before;
    await events.stop();
    expect(results.filter((r) => r.exitCode !== 0).map((r) => r.stderr || r.stdout)).toEqual([]);
    expect(during).toBeGreaterThan(0);

    const subnet = subnetOf(node().subnet ?? "");
    const prefix = subnet.split(".").slice(0, 3).join(".");
    const ips = new Set<string>();
    for (const ns of pods) {
      const links = await ipJson<Link[]>(ns, ["-d", "link", "show"]);
      expect(links.map((l) => l.ifname).sort(), ns).toEqual(["eth0", "lo"]);
      const addrs = await ipJson<Addr[]>(ns, ["-4", "addr", "show", "dev", "eth0"]);
      const v4 = addrs[0]?.addr_info.filter((a) => a.family === "inet") ?? [];
      expect(v4, ns).toHaveLength(1);
      expect(v4[0]?.local.startsWith(`${prefix}.`), ns).toBe(true);
      ips.add(v4[0]?.local ?? "");
      const routes = await ipJson<Route[]>(ns, ["-4", "route", "show"]);
      expect(routes.map((r) => `${r.dst} ${r.gateway ?? ""} ${r.dev}`).sort(), ns).toEqual(
        [`${subnet}  eth0`, `10.244.0.0/16 ${prefix}.1 eth0`, `default ${prefix}.1 eth0`].sort(),
      );
    }
    expect(ips.size).toBe(PODS);

    // the node: every new veth on the bridge, no pod address, no pod route, peers' routes via flannel.1 only
    const links = await ipJson<Link[]>(node().ns, ["-d", "link", "show"]);
    const veths = links.filter((l) => l.linkinfo?.info_kind === "veth" && l.ifname !== node().dev);
    expect(veths).toHaveLength(PODS);
    expect(veths.every((l) => l.master === "cni0")).toBe(true);
    expect(links.some((l) => l.ifname === "eth0" && l.ifname !== node().dev)).toBe(false);
    const nodeAddrs = (await ipJson<Addr[]>(node().ns, ["-4", "addr", "show"])).flatMap((a) =>
      a.addr_info.map((i) => `${a.ifname} ${i.local}`),
    );
    expect(
      nodeAddrs.filter((a) => a.includes(` ${prefix}.`) && !a.startsWith("cni0 ") && !a.startsWith("flannel.1 ")),
    ).toEqual([]);
    const nodeRoutes = await ipJson<Route[]>(node().ns, ["-4", "route", "show"]);
    expect(nodeRoutes.filter((r) => r.dst === "default" && r.gateway?.startsWith("10.244."))).toEqual([]);
    const viaFlannel = nodeRoutes.filter((r) => r.dev === "flannel.1").map((r) => r.dst);
    expect(viaFlannel).toContain(subnetOf(c.nodes[1]?.subnet ?? ""));

    const log = readFileSync(c.logOf(node()), "utf8");
    expect(log.match(/msg="CNI call" command=ADD/g)?.length ?? 0, log.slice(-3000)).toBe(PODS);
  });

  it("DEL of all 50 at once leaves no veth, reservation or saved config", async () => {
    const dels = await all("del");
    expect(dels.filter((r) => r.exitCode !== 0).map((r) => r.stderr || r.stdout)).toEqual([]);
    const links = await ipJson<Link[]>(node().ns, ["-d", "link", "show"]);
    expect(
      links.filter((l) => l.linkinfo?.info_kind === "veth" && l.ifname !== node().dev).map((l) => l.ifname),
    ).toEqual([]);
    const { readdirSync, existsSync } = await import("node:fs");
    const ipam = join(node().scratch.dataDir, "cbr0");
    expect(existsSync(ipam) ? readdirSync(ipam).filter((f) => /^\d/.test(f)) : []).toEqual([]);
    const saved = join(node().scratch.root, "flannel");
    expect(existsSync(saved) ? readdirSync(saved) : []).toEqual([]);
    for (const ns of pods)
      expect(
        (await ipJson<Link[]>(ns, ["link", "show"])).map((l) => l.ifname),
        ns,
      ).toEqual(["lo"]);
  });

  it(`keeps the daemon's anonymous memory within +5 MiB over ${ROUNDS} ADD/DEL rounds`, async () => {
    const n = c.nodes[1];
    const pid = n?.daemon?.pid;
    if (!n || pid === undefined) throw new Error("node2's daemon is not running");
    const pod = await c.topo.netns("mem");
    const conf = {
      cniVersion: "1.1.0",
      name: "cbr0",
      type: "flannel",
      subnetFile: join(n.scratch.root, "subnet.env"),
      dataDir: join(n.scratch.root, "flannel"),
      ipam: { dataDir: n.scratch.dataDir },
      delegate: { isDefaultGateway: true },
    };
    const loop = async (rounds: number) => {
      const r = await runIn(
        n.ns,
        BUN,
        [RAW, "loop", join(n.scratch.root, "cni.sock"), String(rounds), `/run/netns/${pod}`, JSON.stringify(conf)],
        {
          env: { CNI_IFNAME: "eth0", CNI_PATH: WEFT_PLUGIN_DIR },
          timeoutMs: 900_000,
        },
      );
      return JSON.parse(r.stdout.trim()) as { failed: number; failures: string[]; msPerRound: number };
    };
    // warm up: the JIT, the plugin modules, the buffers of the first calls
    expect((await loop(WARM_UP)).failed).toBe(0);
    const before = await settledRssAnonKiB(pid);
    const r = await loop(ROUNDS);
    const after = await settledRssAnonKiB(pid);
    const dropped = readFileSync(c.logOf(n), "utf8")
      .split("\n")
      .filter((l) => l.includes("dropped a connection"));
    expect(r.failures, dropped.join("\n")).toEqual([]);
    console.log(
      `CNI server memory: RssAnon ${(before / 1024).toFixed(1)} -> ${(after / 1024).toFixed(1)} MiB ` +
        `over ${ROUNDS} ADD/DEL rounds, ${r.msPerRound.toFixed(2)} ms per round`,
    );
    expect(after - before).toBeLessThan(5 * 1024);
  }, 900_000);
});
