// `weft doctor` and flanneld's /metrics on a real cluster: 3 nodes in namespaces, a real etcd,
// our flanneld with --healthz-port on each, two pods per node. The doctor passes on the healthy
// cluster; then each thing is broken on purpose (and put back) and the doctor must name it and
// its fix, and exit 1. /metrics is scraped from a node and read with a strict exposition parser.
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseExposition, sampleValue } from "../daemon/testing/prometheus-text.ts";
import { REFERENCE_PLUGIN_DIR, WEFT_PLUGIN_DIR } from "../netns-fixtures/oracles/reference.ts";
import { subnetOf, waitFor, WeftCluster, type ClusterNode } from "../netns-fixtures/topology/cluster.ts";
import { cnitool } from "../netns-fixtures/topology/cni.ts";
import { run, runIn } from "../netns-fixtures/topology/sh.ts";
import { implsUnderTest } from "./impls.ts";

const ours = implsUnderTest().some((i) => i.isOurs);
const PORT = 8081;

interface Check {
  readonly id: string;
  readonly status: "ok" | "warn" | "fail" | "skip";
  readonly summary: string;
  readonly fix?: string;
}

describe.runIf(ours)("weft doctor and /metrics on a 3-node vxlan cluster", () => {
  const c = new WeftCluster({
    nodes: 3,
    backend: "vxlan",
    flags: ["--healthz-port", String(PORT)],
    // /metrics counts the reservations in the data dir the test conflist gives host-local
    env: (n) => ({ WEFT_IPAM_DATA_DIR: n.scratch.dataDir }),
  });
  const node = (i: number): ClusterNode => {
    const n = c.nodes[i];
    if (!n) throw new Error(`no node ${i}`);
    return n;
  };

  beforeAll(async () => {
    await c.start();
    await c.addPods(2);
    await c.waitMesh();
  }, 120_000);
  afterAll(() => c.teardown(), 60_000);

  async function doctor(n: ClusterNode, extra: readonly string[] = []): Promise<{ code: number; checks: Check[] }> {
    const r = await runIn(
      n.ns,
      join(WEFT_PLUGIN_DIR, "doctor"),
      [
        "--json",
        `--etcd-endpoints=${c.etcd?.endpoint ?? ""}`,
        `--iface=${n.dev}`,
        `--subnet-file=${join(n.scratch.root, "subnet.env")}`,
        `--healthz-port=${PORT}`,
        `--cni-conf-dir=${n.scratch.confDir}`,
        `--cni-path=${WEFT_PLUGIN_DIR}:${REFERENCE_PLUGIN_DIR}`,
        `--cni-cache-dir=${n.scratch.cacheDir}`,
        ...extra,
      ],
      { allowFail: true },
    );
    const doc = JSON.parse(r.stdout) as { ok: boolean; checks: Check[] };
    expect(doc.ok).toBe(r.exitCode === 0);
    return { code: r.exitCode, checks: doc.checks };
  }

  const get = (checks: readonly Check[], id: string): Check => {
    const hit = checks.find((x) => x.id === id);
    if (!hit) throw new Error(`no check ${id} in ${checks.map((x) => x.id).join(", ")}`);
    return hit;
  };
  const failed = (checks: readonly Check[]) => checks.filter((x) => x.status === "fail").map((x) => x.id);

  /** Break something, run the doctor, put it back (also when an assertion fails). */
  async function broken(
    n: ClusterNode,
    breakIt: () => Promise<unknown>,
    repair: () => Promise<unknown>,
    extra?: string[],
  ) {
    await breakIt();
    try {
      return await doctor(n, extra);
    } finally {
      await repair();
    }
  }

  it("passes on the healthy cluster: exit 0, every peer answers through flannel.1", async () => {
    for (const n of c.nodes) {
      const { code, checks } = await doctor(n);
      expect(failed(checks), n.name).toEqual([]);
      expect(code).toBe(0);
      const peers = checks.filter((x) => x.id.startsWith("peer/"));
      expect(peers.map((p) => p.id).sort()).toEqual(
        c.nodes
          .filter((m) => m !== n)
          .map((m) => `peer/${subnetOf(m.subnet ?? "")}`)
          .sort(),
      );
      for (const p of peers) expect(p.summary).toMatch(/answers through flannel\.1/);
      expect(get(checks, "subnet-env").summary).toContain(`= the lease of ${n.ip}`);
      expect(get(checks, "cni-server").summary).toContain("answered STATUS");
      expect(get(checks, "ipam").summary).toMatch(/^2 of 253 addresses/);
      // the test conflist is cniVersion 1.0.0: STATUS and GC off, which is a warning, not a failure
      expect(get(checks, "cni-config").status).toBe("warn");
    }
  });

  it("without flanneld flags, takes those of the flanneld running in its network namespace", async () => {
    const n = node(1);
    const r = await runIn(
      n.ns,
      join(WEFT_PLUGIN_DIR, "doctor"),
      [
        "--json",
        `--cni-conf-dir=${n.scratch.confDir}`,
        `--cni-path=${WEFT_PLUGIN_DIR}:${REFERENCE_PLUGIN_DIR}`,
        `--cni-cache-dir=${n.scratch.cacheDir}`,
      ],
      { allowFail: true },
    );
    const doc = JSON.parse(r.stdout) as { flags: { from: string; args: string[] }; checks: Check[] };
    expect(doc.flags.from).toBe(`flanneld (pid ${n.daemon?.pid})`);
    expect(doc.flags.args).toContain(`--healthz-port`);
    expect(failed(doc.checks)).toEqual([]);
    expect(r.exitCode).toBe(0);
    expect(get(doc.checks, "subnet-env").summary).toContain(`= the lease of ${n.ip}`);
  });

  it("names a blocked VXLAN port: the peer answers on its public address, not through the overlay", async () => {
    const [a, b] = [node(0), node(1)];
    const rule = ["INPUT", "-p", "udp", "--dport", "8472", "-j", "DROP"];
    const { code, checks } = await broken(
      a,
      () => runIn(b.ns, "iptables", ["-I", ...rule]),
      () => runIn(b.ns, "iptables", ["-D", ...rule]),
    );
    expect(code).toBe(1);
    const p = get(checks, `peer/${subnetOf(b.subnet ?? "")}`);
    expect(p.status).toBe("fail");
    expect(p.summary).toMatch(/answers on its public address but not through flannel\.1/);
    expect(p.fix).toMatch(/VXLAN UDP 8472 between this node and 192\.0\.2\.\d+ is blocked/);
    expect(get(checks, `peer/${subnetOf(node(2).subnet ?? "")}`).status).toBe("ok");
  });

  it("names a cni0 left with another subnet's address and says to delete the bridge", async () => {
    const n = node(2);
    const { checks } = await broken(
      n,
      () => runIn(n.ns, "ip", ["addr", "add", "10.99.7.1/24", "dev", "cni0"]),
      () => runIn(n.ns, "ip", ["addr", "del", "10.99.7.1/24", "dev", "cni0"]),
    );
    const b = get(checks, "bridge");
    expect(b.status).toBe("fail");
    expect(b.summary).toContain("cni0 holds 10.99.7.1/24, outside this node's subnet");
    expect(b.fix).toContain("ip link delete cni0");
  });

  it("names a backend device whose MTU is below FLANNEL_MTU", async () => {
    const n = node(0);
    const { checks } = await broken(
      n,
      () => runIn(n.ns, "ip", ["link", "set", "flannel.1", "mtu", "1400"]),
      () => runIn(n.ns, "ip", ["link", "set", "flannel.1", "mtu", "1450"]),
    );
    const m = get(checks, "mtu");
    expect(m.status).toBe("fail");
    expect(m.summary).toContain("FLANNEL_MTU=1450 is over flannel.1's MTU 1400");
  });

  it("names ip_forward=0 and bridge-nf-call-iptables=0 with the sysctl that fixes each", async () => {
    const n = node(0);
    const set = (k: string, v: string) => runIn(n.ns, "sysctl", ["-qw", `${k}=${v}`]);
    const { checks } = await broken(
      n,
      async () => {
        await set("net.ipv4.ip_forward", "0");
        await set("net.bridge.bridge-nf-call-iptables", "0");
      },
      async () => {
        await set("net.ipv4.ip_forward", "1");
        await set("net.bridge.bridge-nf-call-iptables", "1");
      },
    );
    expect(get(checks, "ip-forward").fix).toContain("sysctl -w net.ipv4.ip_forward=1");
    expect(get(checks, "br-netfilter").fix).toContain("sysctl -w net.bridge.bridge-nf-call-iptables=1");
    expect(failed(checks)).toEqual(expect.arrayContaining(["ip-forward", "br-netfilter"]));
  });

  it("names strict rp_filter when the route back to a peer's pods leaves by another interface", async () => {
    const [n, peer] = [node(0), node(1)];
    const back = `${subnetOf(peer.subnet ?? "").replace(/\.0\/24$/, ".1")}/32`;
    const set = (k: string, v: string) => runIn(n.ns, "sysctl", ["-qw", `${k}=${v}`]);
    const { checks } = await broken(
      n,
      async () => {
        await set("net.ipv4.conf.all.rp_filter", "1");
        await run("ip", ["-n", n.ns, "route", "add", back, "dev", n.dev]);
      },
      async () => {
        await run("ip", ["-n", n.ns, "route", "del", back, "dev", n.dev]);
        await set("net.ipv4.conf.all.rp_filter", "0");
      },
    );
    const r = get(checks, "rp-filter");
    expect(r.status).toBe("fail");
    expect(r.summary).toContain(`arrive on flannel.1 but the route back is via ${n.dev}`);
    expect(r.fix).toContain("rp_filter=2");
  });

  it("names a DROP FORWARD policy in the other iptables backend, and pods across nodes really stop", async () => {
    const n = node(0);
    const from = c.pods.find((p) => p.node === n);
    const to = c.pods.find((p) => p.node !== n);
    if (!from || !to) throw new Error("pods missing");
    const { tcpProbe } = await import("../netns-fixtures/topology/tcp.ts");
    let during = "";
    const { checks } = await broken(
      n,
      async () => {
        await runIn(n.ns, "iptables-legacy", ["-P", "FORWARD", "DROP"]);
        during = await tcpProbe(from.ns, to.ip);
      },
      () => runIn(n.ns, "iptables-legacy", ["-P", "FORWARD", "ACCEPT"]),
    );
    expect(during).not.toBe("ok");
    const f = get(checks, "forward");
    expect(f.status).toBe("fail");
    expect(f.summary).toContain("iptables-legacy FORWARD policy is DROP and nothing there accepts 10.244.0.0/16");
    expect(await tcpProbe(from.ns, to.ip)).toBe("ok");
  });

  it("names flanneld's rules in a different iptables backend than the host's (kubelet canary in legacy)", async () => {
    const n = node(1);
    const { checks } = await broken(
      n,
      () => runIn(n.ns, "iptables-legacy", ["-t", "mangle", "-N", "KUBE-KUBELET-CANARY"]),
      () => runIn(n.ns, "iptables-legacy", ["-t", "mangle", "-X", "KUBE-KUBELET-CANARY"]),
    );
    const m = get(checks, "iptables-mode");
    expect(m.status).toBe("fail");
    expect(m.summary).toContain(
      "flanneld's rules are in iptables-nft, but the host's (kube-proxy, kubelet) are in iptables-legacy",
    );
  });

  it("names a CNI config that sorts before flannel's, and a chained plugin missing from CNI_PATH", async () => {
    const n = node(1);
    const other = join(n.scratch.confDir, "00-other.conflist");
    const { checks } = await broken(
      n,
      async () =>
        writeFileSync(
          other,
          JSON.stringify({ cniVersion: "1.0.0", name: "other", plugins: [{ type: "bridge", bridge: "x0" }] }),
        ),
      async () => rmSync(other),
    );
    const cfg = get(checks, "cni-config");
    expect(cfg.status).toBe("fail");
    expect(cfg.summary).toContain('00-other.conflist, network "other" (bridge), not 10-flannel.conflist');
    const { checks: noRef } = await doctor(n, [`--cni-path=${WEFT_PLUGIN_DIR}`]);
    const plugins = get(noRef, "cni-plugins");
    expect(plugins.status).toBe("fail");
    expect(plugins.summary).toContain(`portmap is not in ${WEFT_PLUGIN_DIR}`);
  });

  it("names an IPAM reservation whose container is gone and the file to remove", async () => {
    const n = node(2);
    const ip = (n.subnet ?? "").replace(/\.1\/24$/, ".200");
    const file = join(n.scratch.dataDir, "cbr0", ip);
    const { checks } = await broken(
      n,
      async () => writeFileSync(file, "0123456789abcdef-gone\r\neth0"),
      async () => rmSync(file),
    );
    const r = get(checks, "ipam");
    expect(r.status).toBe("fail");
    expect(r.summary).toContain(`${ip} (container 0123456789ab: not in the runtime's result cache)`);
    expect(r.fix).toContain(`rm ${file}`);
  });

  it("names the reservation of a pod whose netns went away without a CNI DEL", async () => {
    const n = node(2);
    const ns = await c.topo.netns("gonep");
    const runtime = { cnitool: join(WEFT_PLUGIN_DIR, "cnitool"), pluginPath: [WEFT_PLUGIN_DIR, REFERENCE_PLUGIN_DIR] };
    const results = join(n.scratch.cacheDir, "results");
    const before = new Set(readdirSync(results));
    const add = await cnitool(runtime, n.scratch, {
      node: n.ns,
      cmd: "add",
      net: "cbr0",
      netnsPath: `/run/netns/${ns}`,
    });
    expect(add.exitCode).toBe(0);
    const ip = ((JSON.parse(add.stdout) as { ips: { address: string }[] }).ips[0]?.address ?? "").split("/")[0] ?? "";
    await run("ip", ["netns", "del", ns]);
    try {
      const r = get((await doctor(n)).checks, "ipam");
      expect(r.status).toBe("fail");
      expect(r.summary).toMatch(
        new RegExp(`${ip.replaceAll(".", "\\.")} \\(container [^:]+: netns /run/netns/${ns} is gone\\)`),
      );
      expect(r.fix).toContain(`rm ${join(n.scratch.dataDir, "cbr0", ip)}`);
    } finally {
      // what a runtime's GC would do: the reservation and the cached attachment go
      rmSync(join(n.scratch.dataDir, "cbr0", ip), { force: true });
      for (const f of readdirSync(results)) if (!before.has(f)) rmSync(join(results, f), { force: true });
    }
    expect(get((await doctor(n)).checks, "ipam").status).toBe("ok");
  });

  it("names a subnet.env no lease holds", async () => {
    const n = node(1);
    const path = join(n.scratch.root, "subnet.env");
    const good = readFileSync(path, "utf8");
    const { checks } = await broken(
      n,
      async () => writeFileSync(path, good.replace(/FLANNEL_SUBNET=\S+/, "FLANNEL_SUBNET=10.244.250.1/24")),
      async () => writeFileSync(path, good),
    );
    const s = get(checks, "subnet-env");
    expect(s.status).toBe("fail");
    expect(s.summary).toContain(`this node's lease is ${subnetOf(n.subnet ?? "")}`);
    expect(s.fix).toContain("restart flanneld");
  });

  it("with flanneld stopped: its node's doctor names flanneld and its CNI socket, peers name the node", async () => {
    const n = node(2);
    expect(await c.stopDaemon(n)).toBe(0);
    try {
      const here = await doctor(n);
      expect(failed(here.checks)).toEqual(expect.arrayContaining(["flanneld"]));
      expect(get(here.checks, "flanneld").fix).toContain("flanneld is not running");
      expect(get(here.checks, "cni-server").summary).toMatch(/did not take a STATUS call|nothing at/);
      const there = await doctor(node(0));
      const p = get(there.checks, `peer/${subnetOf(n.subnet ?? "")}`);
      expect(p.status).toBe("fail");
      expect(p.summary).toMatch(/no answer through flannel\.1 .* nor on its public address/);
      expect(p.fix).toContain("its flanneld is not running");
    } finally {
      c.startDaemon(n);
      await c.waitReady(n);
      await c.waitMesh();
    }
  });

  it("/metrics: leases, peers, CNI calls with latency, IPAM use, a reconcile repair; strict exposition", async () => {
    const n = node(0);
    const scrape = async () => {
      const r = await runIn(n.ns, process.execPath, [
        "-e",
        `fetch("http://127.0.0.1:${PORT}/metrics").then(async (r) => ` +
          'process.stdout.write(r.headers.get("content-type") + "\\n" + await r.text()))',
      ]);
      const cut = r.stdout.indexOf("\n");
      return { type: r.stdout.slice(0, cut), families: parseExposition(r.stdout.slice(cut + 1)) };
    };
    const first = await scrape();
    expect(first.type).toBe("text/plain; version=0.0.4; charset=utf-8");
    const m = first.families;
    expect(sampleValue(m, "weft_ready")).toBe(1);
    expect(sampleValue(m, "weft_leases_known")).toBe(3);
    expect(sampleValue(m, "weft_peers_programmed", { backend: "vxlan", family: "ipv4" })).toBe(2);
    expect(sampleValue(m, "weft_cni_calls_total", { command: "ADD", result: "success" })).toBe(2);
    expect(sampleValue(m, "weft_cni_call_duration_seconds_count", { command: "ADD" })).toBe(2);
    expect(sampleValue(m, "weft_cni_call_duration_seconds_bucket", { command: "ADD", le: "+Inf" })).toBe(2);
    expect(sampleValue(m, "weft_ipam_pool_size", { family: "ipv4", subnet: subnetOf(n.subnet ?? "") })).toBe(253);
    expect(sampleValue(m, "weft_ipam_allocated", { family: "ipv4", subnet: subnetOf(n.subnet ?? "") })).toBe(2);
    expect(sampleValue(m, "weft_store_errors_total", { store: "etcd" })).toBeGreaterThanOrEqual(0);
    expect(sampleValue(m, "weft_rule_resyncs_total")).toBeGreaterThan(0);
    expect(sampleValue(m, "weft_last_lease_event_age_seconds")).toBeGreaterThanOrEqual(0);
    // take a peer's route away: the reconcile (every second here) puts it back and counts it
    const peer = subnetOf(node(1).subnet ?? "");
    await run("ip", ["-n", n.ns, "route", "del", peer]);
    await waitFor("the reconcile to count the route it put back", 10_000, async () => {
      const f = (await scrape()).families;
      return f.get("weft_reconcile_repairs_total")?.samples.some((s) => s.labels["kind"] === "route_added") ?? false;
    });
  });
});
