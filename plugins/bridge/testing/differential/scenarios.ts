/**
 * Seeded scenarios for the bridge differential fuzz (bridge-differential.root.test.ts): random
 * bridge + host-local configs and ADD/CHECK/DEL sequences over a few containers, a pure function of
 * the seed. Names that must carry the run's prefix are written with "@P" (bridge names) and
 * "@IPAM" (ipam.dataDir); the runner fills them in per implementation.
 */

import { Rng } from "../../../../netns-fixtures/fuzz/fuzz.ts";

/** GONE: the runtime deletes the pod netns; TAMPER: someone deletes the pod's IPv4 default route. */
export type Cmd = "ADD" | "DEL" | "CHECK" | "GONE" | "TAMPER";

export interface Step {
  readonly cmd: Cmd;
  /** Container index: container k lives in pod netns k. */
  readonly pod: number;
  readonly ifName: string;
  /** Index into Scenario.configs. */
  readonly phase: number;
  /** CNI_ARGS, unset when undefined. */
  readonly cniArgs?: string;
  /** CHECK: send the runtime's cached ADD result, the one of the attachment's previous life, or none. */
  readonly prev?: "current" | "stale" | "none";
}

export interface Scenario {
  readonly index: number;
  readonly configs: readonly Record<string, unknown>[];
  readonly steps: readonly Step[];
  readonly pods: number;
  readonly label: string;
}

export const NETWORK = "fuzznet";
const VERSIONS = ["0.3.1", "0.4.0", "1.0.0"] as const;

type Family = "v4" | "v6" | "dual";

function v4Range(rng: Rng, third: number): Record<string, unknown> {
  const prefix = rng.pick([27, 28, 29]);
  return { subnet: `10.244.${third}.0/${prefix}` };
}

function v6Range(rng: Rng, third: number): Record<string, unknown> {
  return { subnet: `fd00:10:244:${third.toString(16)}::/${rng.pick([120, 122, 124])}` };
}

function genRoutes(rng: Rng, family: Family, third: number): Record<string, unknown>[] | undefined {
  if (!rng.chance(0.4)) return undefined;
  const routes: Record<string, unknown>[] = [];
  if (family !== "v6") {
    routes.push(
      rng.pick([{ dst: "10.244.128.0/17" }, { dst: "0.0.0.0/0" }, { dst: "10.244.200.0/24", gw: `10.244.${third}.5` }]),
    );
  }
  if (family !== "v4" && rng.chance(0.6)) routes.push(rng.pick([{ dst: "fd00:10:245::/48" }, { dst: "::/0" }]));
  return routes.length > 0 ? routes : undefined;
}

function genIpam(rng: Rng, family: Family, third: number): Record<string, unknown> {
  const ranges: Record<string, unknown>[][] = [];
  if (family !== "v6") ranges.push([v4Range(rng, third)]);
  if (family !== "v4") ranges.push([v6Range(rng, third)]);
  const routes = genRoutes(rng, family, third);
  return { type: "host-local", ranges, ...(routes ? { routes } : {}), dataDir: "@IPAM" };
}

function genConfig(rng: Rng): Record<string, unknown> {
  const family = rng.pick<Family>(["v4", "v4", "v4", "v6", "dual", "dual"]);
  const third = rng.int(1, 250);
  const conf: Record<string, unknown> = {
    cniVersion: rng.pick(VERSIONS),
    name: NETWORK,
    type: "bridge",
    bridge: `@P${rng.pick(["b0", "br", "-cni0"])}`,
  };
  const flag = (key: string, p: number): void => {
    if (rng.chance(p)) conf[key] = true;
    else if (rng.chance(0.15)) conf[key] = false;
  };
  flag("isGateway", 0.5);
  flag("isDefaultGateway", 0.35);
  flag("forceAddress", 0.2);
  flag("ipMasq", 0.35);
  flag("hairpinMode", 0.3);
  if (conf["hairpinMode"] !== true) flag("promiscMode", 0.25);
  flag("macspoofchk", 0.15);
  if (rng.chance(0.4)) conf["mtu"] = rng.pick([1280, 1400, 1450, 9000]);
  if (rng.chance(0.15))
    conf["dns"] = rng.pick([
      { nameservers: ["10.244.0.10"], search: ["svc.cluster.local"] },
      { domain: "cluster.local" },
      { nameservers: [] },
      {},
    ]);
  conf["ipam"] = genIpam(rng, family, third);
  return conf;
}

/** The same network with something that conflicts with what the first ADD made. */
function conflicting(rng: Rng, base: Record<string, unknown>): Record<string, unknown> {
  const c = structuredClone(base);
  const kind = rng.pick(["mtu", "subnet", "subnetForce", "promisc", "hairpin"]);
  if (kind === "mtu") c["mtu"] = base["mtu"] === 1400 ? 1450 : 1400;
  if (kind === "promisc") c["promiscMode"] = base["promiscMode"] !== true;
  if (kind === "hairpin") c["hairpinMode"] = base["hairpinMode"] !== true;
  if (kind === "subnet" || kind === "subnetForce") {
    const third = rng.int(1, 250);
    c["isGateway"] = true;
    if (kind === "subnetForce") c["forceAddress"] = true;
    c["ipam"] = { type: "host-local", ranges: [[{ subnet: `10.244.${third}.0/28` }]], dataDir: "@IPAM" };
  }
  if (c["hairpinMode"] === true && c["promiscMode"] === true)
    delete c[kind === "promisc" ? "hairpinMode" : "promiscMode"];
  return c;
}

/** One invalid (or odd) variant: the reference and ours must fail (or succeed) alike. */
function invalid(rng: Rng, base: Record<string, unknown>): Record<string, unknown> {
  const c = structuredClone(base);
  const kind = rng.pick([
    "mtuString",
    "mtuHuge",
    "unknownIpam",
    "noIpam",
    "longBridge",
    "hairpinPromisc",
    "ipamNotObject",
  ]);
  if (kind === "mtuString") c["mtu"] = "1500";
  if (kind === "mtuHuge") c["mtu"] = 70000;
  if (kind === "unknownIpam") c["ipam"] = { type: "weft-no-such-ipam" };
  if (kind === "noIpam") delete c["ipam"];
  if (kind === "longBridge") c["bridge"] = "@Plongbridgename0";
  if (kind === "hairpinPromisc") Object.assign(c, { hairpinMode: true, promiscMode: true });
  if (kind === "ipamNotObject") c["ipam"] = "host-local";
  return c;
}

const IFNAMES = ["eth0", "eth0", "eth1", "net1"];

/** Now and then CNI_ARGS: a fixed MAC (0a:58:..., compared literally), unknown keys, a bad pair. */
function genArgs(rng: Rng): { cniArgs?: string } {
  if (!rng.chance(0.15)) return {};
  const mac = `0a:58:0a:f4:${rng.int(16, 255).toString(16)}:${rng.int(16, 255).toString(16)}`;
  return {
    cniArgs: rng.pick([
      `MAC=${mac}`,
      `IgnoreUnknown=1;K8S_POD_NAME=p;MAC=${mac}`,
      "K8S_POD_NAME=p",
      "MAC",
      `MAC=${mac.toUpperCase()}`,
    ]),
  };
}

/** A scenario: configs[0] base, [1] conflicting, [2] invalid; 5-11 steps over 2-3 containers. */
export function genScenario(seed: number, index: number): Scenario {
  const rng = new Rng((seed * 7919 + index * 104729) >>> 0);
  const base = genConfig(rng);
  const configs = [base, conflicting(rng, base), invalid(rng, base)];
  const pods = rng.int(2, 3);
  const ifsOf = Array.from({ length: pods }, () =>
    rng.chance(0.25) ? ["eth0", rng.pick(["eth1", "net1"])] : [rng.pick(IFNAMES)],
  );
  const attachment = (): { pod: number; ifName: string } => {
    const pod = rng.int(0, pods - 1);
    return { pod, ifName: rng.pick(ifsOf[pod] ?? ["eth0"]) };
  };
  // CHECK exists from 0.4.0; under 0.3.1 it is now and then sent anyway (both must refuse it alike)
  const check = String(base["cniVersion"]) !== "0.3.1" || rng.chance(0.3);
  const steps: Step[] = [{ cmd: "ADD", pod: 0, ifName: ifsOf[0]?.[0] ?? "eth0", phase: 0 }];
  const n = rng.int(5, 11);
  while (steps.length < n) {
    const a = { ...attachment(), ...genArgs(rng) };
    const r = rng.next();
    if (r < 0.34) steps.push({ cmd: "ADD", ...a, phase: 0 });
    else if (r < 0.5 && check) steps.push({ cmd: "CHECK", ...a, phase: 0, prev: rng.chance(0.9) ? "current" : "none" });
    else if (r < 0.72) steps.push({ cmd: "DEL", ...a, phase: 0 });
    else if (r < 0.8) steps.push({ cmd: "GONE", ...a, phase: 0 }, { cmd: "DEL", ...a, phase: 0 });
    else if (r < 0.9) steps.push({ cmd: "ADD", ...a, phase: 1 });
    else if (r < 0.97) steps.push({ cmd: "ADD", ...a, phase: 2 });
    else steps.push({ cmd: "DEL", ...a, phase: 2 });
  }
  // finally DEL every attachment, twice for one of them, so DEL of everything is compared too
  for (let p = 0; p < pods; p++)
    for (const ifName of new Set(ifsOf[p])) steps.push({ cmd: "DEL", pod: p, ifName, phase: 0 });
  steps.push({ cmd: "DEL", pod: 0, ifName: ifsOf[0]?.[0] ?? "eth0", phase: 0 });
  const flags = [
    "isGateway",
    "isDefaultGateway",
    "ipMasq",
    "hairpinMode",
    "promiscMode",
    "macspoofchk",
    "forceAddress",
  ].filter((k) => base[k] === true);
  const ranges = JSON.stringify((base["ipam"] as { ranges: unknown[] }).ranges);
  const label =
    `${String(base["cniVersion"])} ` +
    `${ranges.includes("fd00") ? (ranges.includes("10.244") ? "dual" : "v6") : "v4"}` +
    `${base["mtu"] ? ` mtu ${String(base["mtu"])}` : ""} ${flags.join(",") || "plain"}`;
  return { index, configs, steps, pods, label };
}

/**
 * Hand-written scenarios, run after the random ones with indexes from 1000, that reach the rare
 * cases every seed must see: two interfaces of one container sharing the masquerade chain, DEL
 * after the netns is gone with ipMasq + macspoofchk, CHECK mismatches, every invalid config.
 */
export function directedScenarios(): Scenario[] {
  const base = (extra: Record<string, unknown>): Record<string, unknown> => ({
    cniVersion: "1.0.0",
    name: NETWORK,
    type: "bridge",
    bridge: "@Pd0",
    ipam: { type: "host-local", ranges: [[{ subnet: "10.244.251.0/28" }]], dataDir: "@IPAM" },
    ...extra,
  });
  const s = (cmd: Cmd, pod: number, ifName: string, phase = 0, prev?: Step["prev"]): Step => ({
    cmd,
    pod,
    ifName,
    phase,
    ...(prev ? { prev } : {}),
  });
  const rng = new Rng(1);
  const masq = base({ isGateway: true, ipMasq: true, macspoofchk: true });
  const plain = base({ isDefaultGateway: true });
  const invalids = [
    "mtuString",
    "mtuHuge",
    "unknownIpam",
    "noIpam",
    "longBridge",
    "hairpinPromisc",
    "ipamNotObject",
  ].map((kind) => {
    let c = invalid(rng, plain);
    for (let i = 0; i < 50 && !matchesKind(c, plain, kind); i++) c = invalid(rng, plain);
    return c;
  });
  return [
    {
      index: 1000,
      label: "directed: two interfaces of one container with ipMasq + macspoofchk, DEL after the netns is gone",
      pods: 2,
      configs: [
        masq,
        {
          ...masq,
          ipam: { type: "host-local", ranges: [[{ subnet: "10.244.252.0/28" }]], dataDir: "@IPAM" },
          isGateway: false,
        },
      ],
      steps: [
        s("ADD", 0, "eth0"),
        s("ADD", 0, "net1", 1),
        s("CHECK", 0, "eth0", 0, "current"),
        s("DEL", 0, "net1", 1),
        s("DEL", 0, "eth0"),
        s("ADD", 1, "eth0"),
        s("GONE", 1, "eth0"),
        s("DEL", 1, "eth0"),
        s("DEL", 1, "eth0"),
      ],
    },
    {
      index: 1001,
      label: "directed: CHECK mismatches, a gateway conflict, a missing netns",
      pods: 3,
      configs: [
        base({
          isGateway: true,
          ipam: {
            type: "host-local",
            ranges: [[{ subnet: "10.244.251.0/28" }]],
            routes: [{ dst: "10.244.128.0/17" }, { dst: "0.0.0.0/0", gw: "10.244.251.1" }],
            dataDir: "@IPAM",
          },
        }),
        base({ isGateway: true, promiscMode: true }),
        base({
          isGateway: true,
          ipam: { type: "host-local", ranges: [[{ subnet: "10.244.253.0/28" }]], dataDir: "@IPAM" },
        }),
        base({ isDefaultGateway: true }),
      ],
      steps: [
        s("ADD", 0, "eth0"),
        s("CHECK", 0, "eth0", 0, "current"),
        s("CHECK", 0, "eth0", 1, "current"),
        s("CHECK", 0, "eth0", 0, "none"),
        s("DEL", 0, "eth0"),
        s("ADD", 0, "eth0"),
        s("CHECK", 0, "eth0", 0, "stale"),
        s("ADD", 1, "eth1", 3),
        s("TAMPER", 1, "eth1"),
        s("CHECK", 1, "eth1", 3, "current"),
        s("DEL", 1, "eth1", 3),
        s("ADD", 1, "eth0", 2),
        s("GONE", 2, "eth0"),
        s("ADD", 2, "eth0"),
        s("CHECK", 2, "eth0", 0, "stale"),
        s("DEL", 2, "eth0"),
        s("DEL", 0, "eth0"),
      ],
    },
    {
      index: 1002,
      label: "directed: every invalid config, an IPAM default route clashing with isDefaultGateway",
      pods: 1,
      configs: [
        plain,
        base({
          isDefaultGateway: true,
          ipam: {
            type: "host-local",
            ranges: [[{ subnet: "10.244.251.0/28" }]],
            routes: [{ dst: "0.0.0.0/0" }],
            dataDir: "@IPAM",
          },
        }),
        ...invalids,
      ],
      steps: [
        // first, so the bridge MAC is pinned before a failed ADD leaves it without ports (see the
        // test's header: the reference then pins 00:00:00:00:00:00 and fails)
        s("ADD", 0, "eth2"),
        // a DEL whose CNI_ARGS host-local refuses removes the link but keeps the address: the next ADD is a duplicate
        { ...s("DEL", 0, "eth2"), cniArgs: "MAC=0a:58:0a:f4:00:02" },
        s("ADD", 0, "eth2"),
        s("DEL", 0, "eth2"),
        s("ADD", 0, "eth0", 1),
        ...invalids.map((_, i) => s("ADD", 0, "eth1", i + 2)),
        s("DEL", 0, "eth1"),
        s("DEL", 0, "eth0"),
      ],
    },
  ];
}

function matchesKind(c: Record<string, unknown>, base: Record<string, unknown>, kind: string): boolean {
  if (kind === "mtuString") return c["mtu"] === "1500";
  if (kind === "mtuHuge") return c["mtu"] === 70000;
  if (kind === "unknownIpam") return JSON.stringify(c["ipam"]).includes("weft-no-such-ipam");
  if (kind === "noIpam") return !("ipam" in c);
  if (kind === "longBridge") return c["bridge"] !== base["bridge"];
  if (kind === "hairpinPromisc") return c["hairpinMode"] === true && c["promiscMode"] === true;
  return typeof c["ipam"] === "string";
}
