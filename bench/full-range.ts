// host-local ADD on a nearly full range, ours against the reference (Debian's /usr/lib/cni/host-local),
// interleaved in one run on one dataDir layout each: a /20 (4,093 allocatable addresses besides the
// gateway) with every address but one reserved, and last_reserved_ip pointing at the free one, so each
// ADD walks the whole range before it finds it. Each sample is one exec of the plugin (ADD), followed by
// an untimed DEL that frees the address again. No namespace is entered (host-local needs none).
// Usage: bun bench/full-range.ts [samples=30]
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REFERENCE_PLUGIN_DIR, WEFT_PLUGIN_DIR, requireBuilt } from "../netns-fixtures/oracles/reference.ts";
import { fmtMs, ratio, summary, table } from "./stats.ts";

const SAMPLES = Number(process.argv.slice(2).find((a) => /^\d+$/.test(a)) ?? 30);
const NETWORK = "full";
/** 10.250.0.0/20: .0.1 is the gateway, 10.250.15.254 the last address (.15.255 is the broadcast). */
const SUBNET = "10.250.0.0/20";
const FREE = "10.250.7.77";

interface Side {
  readonly label: string;
  readonly plugin: string;
  readonly dir: string;
}

function addresses(): string[] {
  const out: string[] = [];
  for (let n = 2; n < 16 * 256 - 1; n++) out.push(`10.250.${n >> 8}.${n & 255}`);
  return out;
}

function makeSide(label: string, plugin: string): Side {
  const dir = mkdtempSync(join(tmpdir(), `weft-full-${label}-`));
  const net = join(dir, NETWORK);
  mkdirSync(net, { recursive: true });
  for (const ip of addresses()) if (ip !== FREE) writeFileSync(join(net, ip), `holder-${ip}\r\neth0`);
  writeFileSync(join(net, "last_reserved_ip.0"), FREE);
  return { label, plugin, dir };
}

function call(s: Side, command: string, cid: string): { ms: number; out: string; code: number } {
  const conf = { cniVersion: "1.0.0", name: NETWORK, ipam: { type: "host-local", subnet: SUBNET, dataDir: s.dir } };
  const t0 = performance.now();
  const r = spawnSync(s.plugin, [], {
    input: JSON.stringify(conf),
    env: {
      CNI_COMMAND: command,
      CNI_CONTAINERID: cid,
      CNI_NETNS: "/run/netns/weft-bench-unused",
      CNI_IFNAME: "eth0",
      CNI_PATH: REFERENCE_PLUGIN_DIR,
    },
    encoding: "utf8",
  });
  return { ms: performance.now() - t0, out: `${r.stdout}${r.stderr}`, code: r.status ?? -1 };
}

requireBuilt();
const sides = [
  makeSide("weft", join(WEFT_PLUGIN_DIR, "host-local")),
  makeSide("ref", join(REFERENCE_PLUGIN_DIR, "host-local")),
];
const samples: number[][] = [[], []];
try {
  for (let i = 0; i < SAMPLES + 2; i++) {
    for (const [k, s] of sides.entries()) {
      const add = call(s, "ADD", `bench-${i}`);
      if (add.code !== 0 || !add.out.includes(FREE)) throw new Error(`${s.label} ADD ${i}: ${add.out}`);
      const del = call(s, "DEL", `bench-${i}`);
      if (del.code !== 0) throw new Error(`${s.label} DEL ${i}: ${del.out}`);
      // the first two rounds warm the page cache of both directories
      if (i >= 2) samples[k]?.push(add.ms);
    }
  }
  const held = sides.map((s) => readdirSync(join(s.dir, NETWORK)).filter((f) => /^\d/.test(f)).length);
  const [ours, ref] = samples.map(summary);
  console.log(`host-local ADD on a nearly full /20 (${held.join(" / ")} reservations held), ${SAMPLES} samples`);
  console.log(
    table(
      ["", "weft p50", "ref p50", "ratio", "weft p90", "ref p90"],
      [
        [
          "ADD",
          fmtMs(ours?.p50 ?? Number.NaN),
          fmtMs(ref?.p50 ?? Number.NaN),
          ratio(ours?.p50 ?? Number.NaN, ref?.p50 ?? Number.NaN),
          fmtMs(ours?.p90 ?? Number.NaN),
          fmtMs(ref?.p90 ?? Number.NaN),
        ],
      ],
    ),
  );
} finally {
  for (const s of sides) rmSync(s.dir, { recursive: true, force: true });
}
