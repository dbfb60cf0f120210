// Pod set-up on a node where our flanneld runs (real etcd, its CNI server beside subnet.env), ours vs
// the reference, interleaved in one run and driven on both sides by the reference cnitool (Go libcni):
//  - ours: the flannel exec relays to flanneld, which runs flannel -> bridge -> host-local warm;
//  - ours, no daemon: the same exec with WEFT_CNI_SOCKET= (the fallback: everything in the exec);
//  - reference: the Debian bridge -> host-local (Debian ships no flannel plugin, so the reference
//    chain leaves out a flannel exec: that favours the reference).
// All three share the node's subnet.env, its bridge and one host-local data dir. Then batches of
// 20 ADDs at once per side (wall time of the batch), checking for errors and duplicate IPs.
// Usage: bun bench/cni-daemon.ts [pods=80]   (needs `npm run build` and the go-cnitool oracle)
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  GO_CNITOOL,
  REFERENCE_PLUGIN_DIR,
  WEFT_PLUGIN_DIR,
  requireBuilt,
} from "../netns-fixtures/oracles/reference.ts";
import { WeftCluster, subnetOf } from "../netns-fixtures/topology/cluster.ts";
import { runIn } from "../netns-fixtures/topology/sh.ts";
import { fmtMs, ratio, summary, table } from "./stats.ts";

// the three sides share one /24: at most 80 pods each
const PODS = Math.min(80, Number(process.argv.slice(2).find((a) => /^\d+$/.test(a)) ?? 80));
const BATCH = 20;

interface Side {
  readonly label: string;
  readonly confDir: string;
  readonly path: string;
  readonly env: Record<string, string>;
}

async function main(): Promise<void> {
  requireBuilt();
  requireBuilt(GO_CNITOOL);
  const c = new WeftCluster({ nodes: 1, backend: "vxlan" });
  try {
    await c.start();
    const n = c.nodes[0];
    if (!n?.subnet) throw new Error("no node");
    const root = n.scratch.root;
    const ipamDir = n.scratch.dataDir;
    const subnetFile = join(root, "subnet.env");
    const side = (label: string, plugin: Record<string, unknown>, path: string, env: Record<string, string>): Side => {
      const confDir = join(root, `net-${label}`);
      mkdirSync(confDir, { recursive: true });
      writeFileSync(
        join(confDir, "10-cbr0.conflist"),
        JSON.stringify({ cniVersion: "1.0.0", name: "cbr0", plugins: [plugin] }),
      );
      return { label, confDir, path, env };
    };
    const flannel = { type: "flannel", subnetFile, dataDir: join(root, "flannel"), ipam: { dataDir: ipamDir } };
    const env = readFileSync(subnetFile, "utf8");
    const mtu = Number(/FLANNEL_MTU=(\d+)/.exec(env)?.[1] ?? 1450);
    const sides = [
      side("weft-daemon", flannel, WEFT_PLUGIN_DIR, {}),
      side("weft-exec", flannel, WEFT_PLUGIN_DIR, { WEFT_CNI_SOCKET: "" }),
      side(
        "reference",
        {
          type: "bridge",
          bridge: "cni0",
          isGateway: true,
          ipMasq: false,
          mtu,
          ipam: {
            type: "host-local",
            ranges: [[{ subnet: subnetOf(n.subnet) }]],
            routes: [{ dst: "10.244.0.0/16" }],
            dataDir: ipamDir,
          },
        },
        REFERENCE_PLUGIN_DIR,
        {},
      ),
    ];
    const call = async (s: Side, cmd: string, pod: string) => {
      const t0 = performance.now();
      const r = await runIn(n.ns, GO_CNITOOL, [cmd, "cbr0", `/run/netns/${pod}`], {
        allowFail: true,
        env: { NETCONFPATH: s.confDir, CNI_PATH: s.path, CNI_CACHE_DIR: join(root, `cache-${s.label}`), ...s.env },
      });
      const ms = performance.now() - t0;
      if (r.exitCode !== 0) throw new Error(`${s.label} ${cmd} ${pod}: ${r.stderr || r.stdout}`);
      return { ms, out: r.stdout };
    };

    const pods = await Promise.all(
      sides.map((s) =>
        Promise.all(Array.from({ length: PODS }, (_, i) => c.topo.netns(`${s.label[0]}${s.label.at(-1)}${i}`))),
      ),
    );
    // one call each first: modules loaded, bridge made, the daemon's JIT warm
    for (const [k, s] of sides.entries()) {
      await call(s, "add", pods[k]?.[0] ?? "");
      await call(s, "del", pods[k]?.[0] ?? "");
    }
    const add: number[][] = sides.map(() => []);
    const del: number[][] = sides.map(() => []);
    for (let i = 0; i < PODS; i++) {
      for (const [k, s] of sides.entries()) add[k]?.push((await call(s, "add", pods[k]?.[i] ?? "")).ms);
    }
    for (let i = 0; i < PODS; i++) {
      for (const [k, s] of sides.entries()) del[k]?.push((await call(s, "del", pods[k]?.[i] ?? "")).ms);
    }
    const ref = sides.length - 1;
    const rows: string[][] = [];
    for (const [name, xs] of [
      ["ADD", add],
      ["DEL", del],
    ] as const) {
      const r = summary(xs[ref] ?? []);
      for (const [k, s] of sides.entries()) {
        if (k === ref) continue;
        const w = summary(xs[k] ?? []);
        rows.push([`${name} ${s.label}`, fmtMs(w.p50), fmtMs(w.p99), fmtMs(r.p50), fmtMs(r.p99), ratio(w.p50, r.p50)]);
      }
    }
    console.log(`cnitool (Go libcni) -> plugins on a node running our flanneld, ${PODS} pods per side, interleaved`);
    console.log(table(["call", "ours p50", "ours p99", "ref p50", "ref p99", "p50 ratio"], rows));

    // concurrency: BATCH ADDs at once, sides one after the other, three rounds
    const batch: number[][] = sides.map(() => []);
    let errors = 0;
    let duplicates = 0;
    for (let round = 0; round < 3; round++) {
      for (const [k, s] of sides.entries()) {
        const mine = (pods[k] ?? []).slice(0, BATCH);
        const t0 = performance.now();
        const outs = await Promise.allSettled(mine.map((p) => call(s, "add", p)));
        batch[k]?.push(performance.now() - t0);
        const ok = outs.flatMap((o) => (o.status === "fulfilled" ? [o.value.out] : []));
        errors += outs.length - ok.length;
        const ips = ok.map((o) => (JSON.parse(o) as { ips: { address: string }[] }).ips[0]?.address);
        duplicates += ips.length - new Set(ips).size;
        await Promise.allSettled(mine.map((p) => call(s, "del", p)));
      }
    }
    const rb = summary(batch[ref] ?? []).p50;
    const brows = sides
      .map((s, k) => [
        `${BATCH} ADDs at once, ${s.label}`,
        fmtMs(summary(batch[k] ?? []).p50),
        fmtMs(rb),
        ratio(summary(batch[k] ?? []).p50, rb),
      ])
      .filter((_, k) => k !== ref);
    console.log("");
    console.log(table(["batch (p50 of 3)", "ours", "ref", "ratio"], brows));
    console.log(`errors ${errors}, duplicate IPs ${duplicates}`);
  } finally {
    await c.teardown();
  }
}

await main();
