// Pod set-up on a node where our flanneld runs (real etcd, its CNI server beside subnet.env), ours vs
// the reference, interleaved in one run and driven on both sides by the reference cnitool (Go libcni):
//  - ours: the flannel exec relays to flanneld, which runs flannel -> bridge -> host-local warm;
//  - ours, no daemon: the same exec with WEFT_CNI_SOCKET= (the fallback: everything in the exec);
//  - reference: the Debian bridge -> host-local (Debian ships no flannel plugin, so this chain leaves
//    out a flannel exec: that favours the reference);
//  - reference with flannel: the whole reference chain, flannel-io/cni-plugin's flannel -> Debian's
//    bridge -> host-local, when dist/ref/flannel is built (scripts/build-go-flannel.sh; its source
//    is not on the machine by default, so this side is optional).
// All sides share the node's subnet.env, its bridge and one host-local data dir. Then batches of
// 20 ADDs at once per side (wall time of the batch), checking for errors and duplicate IPs.
// Usage: bun bench/cni-daemon.ts [pods=80]   (needs `npm run build` and the go-cnitool oracle)
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  GO_CNITOOL,
  REFERENCE_PLUGIN_DIR,
  REPO_ROOT,
  WEFT_PLUGIN_DIR,
  referencePlugin,
  requireBuilt,
} from "../netns-fixtures/oracles/reference.ts";
import { WeftCluster, subnetOf } from "../netns-fixtures/topology/cluster.ts";
import { runIn } from "../netns-fixtures/topology/sh.ts";
import { fmtMs, ratio, summary, table } from "./stats.ts";

const GO_FLANNEL = join(REPO_ROOT, "dist", "ref", "flannel");
// the sides share one /24: at most 80 pods each with three sides, 60 with four
const PODS = Math.min(
  existsSync(GO_FLANNEL) ? 60 : 80,
  Number(process.argv.slice(2).find((a) => /^\d+$/.test(a)) ?? 80),
);
const BATCH = 20;

interface Side {
  readonly label: string;
  readonly confDir: string;
  readonly path: string;
  readonly env: Record<string, string>;
  /** A reference chain: ours are compared with it. */
  readonly reference: boolean;
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
    const side = (
      label: string,
      plugin: Record<string, unknown>,
      path: string,
      env: Record<string, string>,
      reference = false,
    ): Side => {
      const confDir = join(root, `net-${label}`);
      mkdirSync(confDir, { recursive: true });
      writeFileSync(
        join(confDir, "10-cbr0.conflist"),
        JSON.stringify({ cniVersion: "1.0.0", name: "cbr0", plugins: [plugin] }),
      );
      return { label, confDir, path, env, reference };
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
        true,
      ),
    ];
    if (existsSync(GO_FLANNEL)) {
      // the reference flannel plugin with Debian's bridge and host-local on its CNI_PATH
      const dir = join(root, "ref-flannel-bin");
      mkdirSync(dir, { recursive: true });
      symlinkSync(GO_FLANNEL, join(dir, "flannel"));
      for (const p of ["bridge", "host-local", "loopback"]) symlinkSync(referencePlugin(p), join(dir, p));
      const refFlannel = { ...flannel, dataDir: join(root, "ref-flannel") };
      sides.push(side("reference-flannel", refFlannel, dir, {}, true));
    }
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
    const refs = [...sides.entries()].filter(([, s]) => s.reference);
    const rows: string[][] = [];
    for (const [name, xs] of [
      ["ADD", add],
      ["DEL", del],
    ] as const) {
      for (const [k, s] of sides.entries()) {
        if (s.reference) continue;
        const w = summary(xs[k] ?? []);
        for (const [j, r] of refs) {
          const x = summary(xs[j] ?? []);
          rows.push([
            `${name} ${s.label}`,
            r.label,
            fmtMs(w.p50),
            fmtMs(w.p99),
            fmtMs(x.p50),
            fmtMs(x.p99),
            ratio(w.p50, x.p50),
          ]);
        }
      }
    }
    console.log(`cnitool (Go libcni) -> plugins on a node running our flanneld, ${PODS} pods per side, interleaved`);
    console.log(table(["call", "against", "ours p50", "ours p99", "ref p50", "ref p99", "p50 ratio"], rows));

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
    const p50 = (k: number) => summary(batch[k] ?? []).p50;
    const brows = [...sides.entries()].flatMap(([k, s]) =>
      s.reference
        ? []
        : refs.map(([j, r]) => [
            `${BATCH} ADDs at once, ${s.label}`,
            r.label,
            fmtMs(p50(k)),
            fmtMs(p50(j)),
            ratio(p50(k), p50(j)),
          ]),
    );
    console.log("");
    console.log(table(["batch (p50 of 3)", "against", "ours", "ref", "ratio"], brows));
    console.log(`errors ${errors}, duplicate IPs ${duplicates}`);
  } finally {
    await c.teardown();
  }
}

await main();
