/**
 * Random host-local configs for the differential fuzz test (PRNG: netns-fixtures/fuzz/fuzz.ts): a model of
 * each range (network, window, gateway) the step generator uses to pick requested addresses, and
 * the rendering of the models into a plugin config (`ipam.ranges`, the legacy top-level
 * `ipam.subnet` form, `runtimeConfig.ipRanges`, routes, resolvConf). Address text is produced here
 * from bigints, independently of the plugin's own ip.ts.
 */
import { Rng } from "../../../../netns-fixtures/fuzz/fuzz.ts";
import { isObject } from "../../../shared/conf.ts";

export interface Addr {
  readonly family: 4 | 6;
  readonly value: bigint;
}

/** A range as host-local sees it after defaults; `json` is how the config writes it. */
export interface RangeModel {
  readonly family: 4 | 6;
  readonly network: bigint;
  readonly prefix: number;
  readonly start: bigint;
  readonly end: bigint;
  readonly gateway: bigint;
  readonly json: Record<string, string>;
}

/** "short" = RFC 5952-like, "full" = eight zero-padded upper-case groups, "mapped" = ::ffff:a.b.c.d for IPv4. */
export type AddrStyle = "short" | "full" | "mapped";

function dotted(v: bigint): string {
  return [24n, 16n, 8n, 0n].map((s) => String((v >> s) & 0xffn)).join(".");
}

export function formatAddr(a: Addr, style: AddrStyle = "short"): string {
  if (a.family === 4) return style === "mapped" ? `::ffff:${dotted(a.value)}` : dotted(a.value);
  const groups = [112n, 96n, 80n, 64n, 48n, 32n, 16n, 0n].map((s) => Number((a.value >> s) & 0xffffn));
  if (style === "full") return groups.map((g) => g.toString(16).toUpperCase().padStart(4, "0")).join(":");
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; i++) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
  }
  const hex = (gs: number[]) => gs.map((g) => g.toString(16)).join(":");
  if (best < 0) return hex(groups);
  return `${hex(groups.slice(0, best))}::${hex(groups.slice(best + bestLen))}`;
}

const V4_BASE = 0x0af40000n; // 10.244.0.0
const V6_BASE = 0x20010db8n << 96n; // 2001:db8::
/** Third octet / third group reserved for addresses outside every range. */
export const OUTSIDE_K = 0;

function subnetOf(family: 4 | 6, k: number): bigint {
  return family === 4 ? V4_BASE + (BigInt(k) << 8n) : V6_BASE + (BigInt(k) << 80n);
}

/** One random range in 10.244.<k>.0/24 or 2001:db8:<k>::/64. */
export function genRange(rng: Rng, family: 4 | 6, k: number): RangeModel {
  const prefix =
    family === 4
      ? rng.weighted([
          [24, 1],
          [28, 1],
          [29, 2],
          [30, 2],
        ] as const)
      : rng.weighted([
          [64, 1],
          [120, 1],
          [125, 2],
          [126, 2],
        ] as const);
  const bits = family === 4 ? 32 : 128;
  const size = 1n << BigInt(bits - prefix);
  const slots = family === 4 ? Number(256n / size) : 1;
  const network = subnetOf(family, k) + BigInt(rng.int(0, slots - 1)) * size;
  const last = network + size - 1n;
  const defEnd = family === 4 ? last - 1n : last;
  const cap = (x: bigint, hi: bigint) => (x > hi ? hi : x);
  const fmt = (v: bigint) =>
    formatAddr(
      { family, value: v },
      family === 6 && rng.chance(0.2) ? "full" : family === 4 && rng.chance(0.03) ? "mapped" : "short",
    );
  const json: Record<string, string> = {
    subnet: `${formatAddr({ family, value: network }, family === 6 && rng.chance(0.1) ? "full" : "short")}/${prefix}`,
  };
  let start = network + 1n;
  let end = defEnd;
  if (rng.chance(0.35)) {
    // Mostly near the bottom; sometimes the network address itself or the top of the window (wrap-around).
    const where = rng.weighted([
      ["low", 7],
      ["network", 1],
      ["top", 2],
    ] as const);
    start =
      where === "network"
        ? network
        : where === "top"
          ? defEnd - BigInt(rng.int(0, 3))
          : cap(network + 1n + BigInt(rng.int(0, 6)), defEnd);
    if (start < network) start = network;
    json["rangeStart"] = fmt(start);
  }
  if (rng.chance(0.35)) {
    end = rng.chance(0.1) ? last : cap(start + BigInt(rng.int(0, 8)), defEnd);
    json["rangeEnd"] = fmt(end);
  }
  let gateway = network + 1n;
  if (rng.chance(0.4)) {
    const g = rng.int(0, 4);
    gateway =
      [network + 1n, start, start + (end - start) / 2n, last, subnetOf(family, OUTSIDE_K) + BigInt(k)][g] ?? gateway;
    json["gateway"] = fmt(gateway);
  }
  return { family, network, prefix, start, end, gateway, json };
}

export type Layout = readonly (4 | 6)[];

export interface ConfigShape {
  readonly version: string;
  readonly sets: readonly (readonly RangeModel[])[];
  /** How many leading sets come from runtimeConfig.ipRanges. */
  readonly ipRanges: number;
  /** Whether the next set (a single range) is written as the legacy top-level ipam.subnet form. */
  readonly legacy: boolean;
  readonly routes: readonly Record<string, string>[];
  readonly resolvConf?: string;
  readonly upperKeys: boolean;
}

export interface GeneratedConfig extends ConfigShape {
  readonly conf: Record<string, unknown>;
  readonly label: string;
}

/** The resolv.conf files the test writes under its root; configs name them as "@root/<name>". */
export const RESOLV_FILES: Readonly<Record<string, string>> = {
  "resolv.a.conf":
    "# test\nnameserver 192.0.2.53\nnameserver 2001:db8::53\nsearch a.example b.example\noptions ndots:5 rotate\n",
  "resolv.b.conf": "domain cluster.local\n; comment\nnameserver 192.0.2.54\nbogus\n",
  "resolv.c.conf":
    "nameserver\t192.0.2.1\r\n  nameserver 192.0.2.2  # trailing words\r\nnameserver\ndomain a.example\n" +
    "domain b.example\nsearch x\nsearch y z\noptions a\noptions b c\n#nameserver 192.0.2.9\n",
  "resolv.d.conf":
    "\ufeffnameserver 192.0.2.3\nnameserver\u00a0192.0.2.4\n" +
    "search\u0085s.example t.example\u3000u.example\nnameserver 192.0.2.5\u000b\n\fdomain d.example",
};

const ROUTES: readonly Record<string, string>[] = [
  { dst: "0.0.0.0/0" },
  { dst: "::/0" },
  { dst: "192.168.0.0/16", gw: "10.244.0.1" },
  { dst: "10.96.0.0/12" },
  { dst: "fd00::/8", gw: "2001:db8::1" },
  { dst: "10.96.0.1/12" },
  { dst: "::ffff:10.0.0.0/104" },
  { dst: "2001:DB8:0::/48", gw: "2001:0db8::0001" },
  { dst: "172.16.0.0/12", gw: "::ffff:10.244.0.1" },
];

function upper(r: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(r).map(([k, v]) => [k === "subnet" ? "Subnet" : k.charAt(0).toUpperCase() + k.slice(1), v]),
  );
}

/** The plugin config of a shape (no dataDir). */
export function render(s: ConfigShape): Record<string, unknown> {
  const json = (r: RangeModel) => (s.upperKeys ? upper(r.json) : r.json);
  const ipam: Record<string, unknown> = { type: "host-local" };
  const conf: Record<string, unknown> = {
    cniVersion: s.version,
    name: "fuzznet",
    type: "bridge",
    bridge: "cni-fuzz",
    ipam,
  };
  if (s.ipRanges > 0) conf["runtimeConfig"] = { ipRanges: s.sets.slice(0, s.ipRanges).map((set) => set.map(json)) };
  let rest = s.sets.slice(s.ipRanges);
  const legacy = s.legacy ? rest[0]?.[0] : undefined;
  if (legacy !== undefined) {
    Object.assign(ipam, json(legacy));
    rest = rest.slice(1);
  }
  if (rest.length > 0 || (s.ipRanges === 0 && legacy === undefined))
    ipam[s.upperKeys ? "Ranges" : "ranges"] = rest.map((set) => set.map(json));
  if (s.routes.length > 0) ipam["routes"] = s.routes;
  if (s.resolvConf !== undefined) ipam["resolvConf"] = s.resolvConf;
  return conf;
}

function labelOf(s: ConfigShape): string {
  const sets = s.sets.map((set) => `v${set[0]?.family ?? "?"}[${set.map((r) => `/${r.prefix}`).join(",")}]`).join("+");
  const extras = [
    s.ipRanges > 0 ? "ipRanges" : "",
    s.legacy ? "legacy" : "",
    s.upperKeys ? "UpperKeys" : "",
    s.resolvConf ?? "",
  ];
  return [s.version, sets, ...extras].filter((x) => x !== "").join(" ");
}

function genSets(rng: Rng, layout: Layout, firstK: number): RangeModel[][] {
  let k = firstK;
  return layout.map((family) =>
    Array.from(
      {
        length: rng.weighted([
          [1, 6],
          [2, 3],
          [3, 1],
        ] as const),
      },
      () => genRange(rng, family, (k += rng.int(1, 3))),
    ),
  );
}

function finish(shape: ConfigShape): GeneratedConfig {
  return { ...shape, conf: render(shape), label: labelOf(shape) };
}

export function genConfig(rng: Rng): GeneratedConfig {
  const version = rng.weighted([
    ["0.3.1", 3],
    ["0.4.0", 3],
    ["1.0.0", 4],
    ["0.2.0", 1],
  ] as const);
  // 0.2.0 results hold one address per family; more sets per family are rejected (tested, but rarely).
  const multi = version !== "0.2.0" || rng.chance(0.15) ? 1 : 0;
  const layout = rng.weighted<Layout>([
    [[4], 4],
    [[6], 2],
    [[4, 6], 3],
    [[6, 4], 1],
    [[4, 4], multi],
    [[4, 6, 4], multi],
  ]);
  const sets = genSets(rng, layout, rng.int(1, 150));
  const ipRanges = rng.chance(0.1) ? 1 : 0;
  const legacy = rng.chance(0.25) && sets[ipRanges]?.length === 1;
  const routes = ROUTES.filter(() => rng.chance(0.2));
  const resolv = rng.weighted([
    [undefined, 12],
    ["@root/resolv.a.conf", 2],
    ["@root/resolv.b.conf", 1],
    ["@root/resolv.c.conf", 1],
    ["@root/resolv.d.conf", 1],
    ["@root/missing.conf", 0.5],
  ] as const);
  return finish({
    version,
    sets,
    ipRanges,
    legacy,
    routes,
    upperKeys: rng.chance(0.05),
    ...(resolv === undefined ? {} : { resolvConf: resolv }),
  });
}

/** A second config for the same network, as an operator edit would make it: sets reordered, added or dropped. */
export function reshapeConfig(rng: Rng, first: GeneratedConfig): GeneratedConfig {
  const sets = [...first.sets];
  const how = rng.pick(["reverse", "drop", "append", "version"] as const);
  if (how === "reverse") sets.reverse();
  else if (how === "drop" && sets.length > 1) sets.pop();
  else if (how === "append") sets.push(...genSets(rng, [rng.chance(0.5) ? 4 : 6], 200));
  const version = how === "version" ? rng.pick(["0.3.1", "0.4.0", "1.0.0"]) : first.version;
  return finish({ ...first, sets, version, ipRanges: 0, legacy: false });
}

/**
 * Label prefix of the mutations that give a key the wrong JSON type. Go's encoding/json only
 * records such an error and keeps decoding, so an unparsable address anywhere else in the config
 * wins over it; we report the first problem in our decoding order. Which of two simultaneous config
 * errors is named is no contract, so the step generator never adds a malformed requested IP to
 * these configs (the one combination where the two orders disagree).
 */
export const TYPE_ERROR = "JSON type error: ";

const INVALID: readonly (readonly [string, (ipam: Record<string, unknown>, conf: Record<string, unknown>) => void])[] =
  [
    ["host bits", (ipam) => appendSet(ipam, [{ subnet: "10.244.250.7/24" }])],
    ["v4 /31", (ipam) => appendSet(ipam, [{ subnet: "10.244.250.0/31" }])],
    ["v6 /127", (ipam) => appendSet(ipam, [{ subnet: "2001:db8:fa::/127" }])],
    ["rangeStart outside", (ipam) => appendSet(ipam, [{ subnet: "10.244.250.0/24", rangeStart: "10.244.251.1" }])],
    [
      "rangeEnd before rangeStart",
      (ipam) =>
        appendSet(ipam, [{ subnet: "10.244.250.0/24", rangeStart: "10.244.250.50", rangeEnd: "10.244.250.40" }]),
    ],
    ["empty subnet", (ipam) => appendSet(ipam, [{ subnet: "" }])],
    ["bad gateway", (ipam) => appendSet(ipam, [{ subnet: "10.244.250.0/24", gateway: "nope" }])],
    ["mixed families", (ipam) => appendSet(ipam, [{ subnet: "10.244.250.0/24" }, { subnet: "2001:db8:fa::/64" }])],
    ["empty set", (ipam) => appendSet(ipam, [])],
    ["overlapping sets", (ipam) => appendSet(ipam, [{ subnet: "10.244.250.0/24" }], [{ subnet: "10.244.250.128/25" }])],
    ["overlap in a set", (ipam) => appendSet(ipam, [{ subnet: "10.244.250.0/24" }, { subnet: "10.244.250.0/28" }])],
    ["no ipam", (_ipam, conf) => delete conf["ipam"]],
    ["bad args.cni.ips", (_ipam, conf) => (conf["args"] = { cni: { ips: ["10.244.1.300"] } })],
    [TYPE_ERROR + "ranges is an object", (ipam) => (ipam["ranges"] = { subnet: "10.244.250.0/24" })],
    [TYPE_ERROR + "rangeStart is a number", (ipam) => appendSet(ipam, [{ subnet: "10.244.250.0/24", rangeStart: 5 }])],
    [
      "two v4 sets at 0.2.0",
      (ipam, conf) => (
        (conf["cniVersion"] = "0.2.0"),
        appendSet(ipam, [{ subnet: "10.244.250.0/24" }], [{ subnet: "10.244.251.0/24" }])
      ),
    ],
  ];

function appendSet(ipam: Record<string, unknown>, ...sets: unknown[]): void {
  const ranges = ipam["ranges"] ?? ipam["Ranges"];
  const list = Array.isArray(ranges) ? ranges : [];
  delete ipam["Ranges"];
  ipam["ranges"] = [...list, ...sets];
}

/** Break `conf` in one of the ways the reference rejects; returns what was done. */
export function mutateInvalid(rng: Rng, conf: Record<string, unknown>): string {
  const [label, apply] = rng.pick(INVALID);
  const ipam = conf["ipam"];
  if (isObject(ipam)) apply(ipam, conf);
  return `invalid: ${label}`;
}
