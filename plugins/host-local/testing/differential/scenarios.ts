/**
 * Seeded scenarios for the host-local differential fuzz test (host-local-differential.test.ts):
 * random IPAM configs and ADD/DEL/CHECK sequences, a pure function of the seed. Nothing here runs a
 * plugin; the test runs every scenario against ours and the reference and compares step by step.
 *
 * Determinism rules that keep the reference's own output deterministic (it keeps requested IPs in
 * a Go map): at most one requested IP per range set and at most one outside every set.
 */
import { Rng } from "../../../../netns-fixtures/fuzz/fuzz.ts";
import {
  type Addr,
  type RangeModel,
  TYPE_ERROR,
  formatAddr,
  genConfig,
  mutateInvalid,
  reshapeConfig,
} from "./configs.ts";

export type Cmd = "ADD" | "DEL" | "CHECK" | "PLANT";

export interface Step {
  readonly cmd: Cmd;
  readonly containerID: string;
  readonly ifName: string;
  /** CNI_ARGS, unset when undefined. */
  readonly cniArgs?: string;
  /** `args.cni.ips` of the config. */
  readonly argsIPs?: readonly string[];
  /** `runtimeConfig.ips` of the config. */
  readonly runtimeIPs?: readonly string[];
  /** CHECK: which prevResult to send (the runtime's cached ADD result, an outdated one, or none). */
  readonly prev?: "none" | "current" | "stale";
  /**
   * PLANT: the harness writes this file into the network directory (if the directory exists): a
   * reservation in an old or hand-edited form (kept if the address is taken), or a
   * `last_reserved_ip.N` with odd content (always written).
   */
  readonly plant?: { readonly name: string; readonly text: string };
  /** Index into Scenario.configs. */
  readonly phase: number;
}

export interface Scenario {
  readonly index: number;
  /** Configs without `ipam.dataDir` (the runner adds one per implementation). */
  readonly configs: readonly Record<string, unknown>[];
  readonly steps: readonly Step[];
  /** A short description for test names and failure reports. */
  readonly label: string;
}

const IFNAMES = ["eth0", "eth0", "eth0", "eth1", "eth1", "net1", "eth0.100", "äöü0"];

function genIDs(rng: Rng): string[] {
  const n = rng.int(2, 5);
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const style = rng.int(0, 9);
    if (style === 0) ids.push(Array.from({ length: 64 }, () => rng.int(0, 15).toString(16)).join(""));
    else if (style === 1) ids.push(`pod_${i}.k8s-io`);
    else ids.push(`c${i}`);
  }
  return ids;
}

/**
 * An address of a set's range, for requests: in the window, near its start, the gateway, or just outside the window.
 */
function requestAddr(rng: Rng, r: RangeModel): Addr {
  const span = r.end - r.start;
  const mode = rng.weighted([
    ["low", 3],
    ["in", 4],
    ["gateway", 1],
    ["outsideWindow", 1],
  ] as const);
  if (mode === "low") return { family: r.family, value: r.start + BigInt(rng.int(0, 2)) };
  if (mode === "in")
    return {
      family: r.family,
      value: r.start + (span < 12n ? BigInt(rng.int(0, Number(span))) : BigInt(rng.int(0, 12))),
    };
  if (mode === "gateway") return { family: r.family, value: r.gateway };
  if (r.start > r.network + 1n && rng.chance(0.5)) return { family: r.family, value: r.start - 1n };
  return { family: r.family, value: rng.chance(0.5) ? r.network : r.end + 1n };
}

function inSomeSet(sets: readonly (readonly RangeModel[])[], a: Addr): boolean {
  return sets.some((set) => set.some((r) => r.family === a.family && r.start <= a.value && a.value <= r.end));
}

/**
 * Requested IPs for one ADD: at most one per range set, and at most one that no set contains
 * (the reference lists leftovers in Go map order, so two would make its message random).
 */
function genRequests(rng: Rng, sets: readonly (readonly RangeModel[])[], malformed: boolean): string[] {
  const picked: Addr[] = [];
  for (const set of sets) {
    if (rng.chance(sets.length === 1 ? 0.8 : 0.5)) picked.push(requestAddr(rng, rng.pick(set)));
  }
  if (picked.length === 0 || rng.chance(0.1)) {
    const family = rng.chance(0.7) ? 4 : 6;
    picked.push({
      family,
      value: family === 4 ? 0x0af4ff00n + BigInt(rng.int(1, 254)) : (0x20010db800ffn << 80n) + BigInt(rng.int(1, 99)),
    });
  }
  const firstLeftover = picked.findIndex((a) => !inSomeSet(sets, a));
  const texts = picked
    .filter((a, i) => i === firstLeftover || inSomeSet(sets, a))
    .map((a) =>
      formatAddr(a, a.family === 4 && rng.int(0, 9) === 0 ? "mapped" : rng.pick(["short", "short", "full"] as const)),
    )
    .map((ip) => (rng.chance(0.15) ? `${ip}/${ip.includes(":") && !ip.includes(".") ? 64 : 24}` : ip));
  if (rng.chance(0.06) && malformed) texts.push(rng.pick(MALFORMED_IPS));
  return texts;
}

/** Texts neither implementation may take for an address. */
const MALFORMED_IPS = [
  "10.244.1.05",
  "fe80::1%eth0",
  " 10.244.1.5",
  "10.244.1.5/33",
  "10.244.1",
  "1.2.3.4.5",
  "::ffff:10.244.1.300",
  "10.244.1.5/24x",
  "2001:db8::g",
  "10.244.1.5/",
];

/** CNI_ARGS as a careless runtime or operator may write them. */
const ODD_CNI_ARGS = [
  "IgnoreUnknown=yes;X=1",
  "IgnoreUnknown=0;X=1",
  "IgnoreUnknown=TRUE;X=1",
  "ignoreunknown=1;X=1",
  "A=1;B=2",
  "IP=10.244.1.5=x",
  "=5",
  "IP",
  "K8S_POD_NAME=p;;IgnoreUnknown=1",
  "IgnoreUnknown=1;IP=",
];

function kubeletArgs(rng: Rng): string {
  if (rng.chance(0.08)) return rng.pick(ODD_CNI_ARGS);
  return (
    `IgnoreUnknown=${rng.pick(["1", "true"])};` +
    `K8S_POD_NAMESPACE=ns${rng.int(0, 3)};K8S_POD_NAME=pod${rng.int(0, 9)}`
  );
}

/** Spread requested IPs over CNI_ARGS IP=, args.cni.ips and runtimeConfig.ips. */
function placeRequests(rng: Rng, ips: readonly string[]): Pick<Step, "cniArgs" | "argsIPs" | "runtimeIPs"> {
  const argsIPs: string[] = [];
  const runtimeIPs: string[] = [];
  let cniIP: string | undefined;
  for (const ip of ips) {
    const where = rng.int(0, 2);
    if (where === 0 && cniIP === undefined) cniIP = ip;
    else if (where === 1) argsIPs.push(ip);
    else runtimeIPs.push(ip);
  }
  const first = ips[0];
  if (first !== undefined && rng.chance(0.05)) argsIPs.push(first); // the same IP asked for twice
  if (rng.chance(0.03)) (rng.chance(0.5) ? argsIPs : runtimeIPs).push(""); // decodes to "no address"
  const out: { cniArgs?: string; argsIPs?: string[]; runtimeIPs?: string[] } = {};
  if (cniIP !== undefined) {
    const style = rng.int(0, 9);
    if (style < 4) out.cniArgs = `IP=${cniIP}`;
    else if (style === 4)
      out.cniArgs = `IP=;IgnoreUnknown=1;IP=${cniIP}`; // the last IP= wins
    else if (style < 9) out.cniArgs = `${kubeletArgs(rng)};IP=${cniIP}`;
    else out.cniArgs = `IP=${cniIP};K8S_POD_NAME=p`; // unknown key without IgnoreUnknown
  }
  if (argsIPs.length > 0) out.argsIPs = argsIPs;
  if (runtimeIPs.length > 0) out.runtimeIPs = runtimeIPs;
  return out;
}

/** A reservation file as an older plugin or an operator may have left it, or an odd last_reserved_ip.N. */
function genPlant(
  rng: Rng,
  sets: readonly (readonly RangeModel[])[],
  id: string,
  ifName: string,
): { name: string; text: string } {
  const idx = rng.int(0, sets.length - 1);
  const r = rng.pick(sets[idx] ?? []);
  const near = (d: number) => ({ family: r.family, value: r.start + BigInt(rng.int(0, d)) });
  if (rng.chance(0.4)) {
    const ip = formatAddr(near(3), rng.pick(["short", "short", "full", "mapped"] as const));
    const other = r.family === 4 ? "2001:db8:ff::1" : "10.244.255.1";
    const text = rng.pick([
      ip,
      `${ip}\n`,
      "",
      "garbage",
      formatAddr(near(40)),
      other,
      formatAddr({ family: r.family, value: r.end }),
    ]);
    return { name: `last_reserved_ip.${rng.chance(0.8) ? idx : sets.length}`, text };
  }
  const text = rng.pick([id, `  ${id}\n`, `${id}\r\n${ifName}\n`, `${id}\r\n${ifName}`, `${id}\n${ifName}`]);
  return { name: formatAddr(near(Number(r.end - r.start < 6n ? r.end - r.start : 6n))), text };
}

interface StepContext {
  readonly ids: string[];
  readonly sets: readonly (readonly RangeModel[])[];
  readonly phase: number;
  /** cniVersion >= 0.4.0: otherwise CHECK only shows skel's version error, so it is rare. */
  readonly checkAllowed: boolean;
  /** Whether requests may include unparsable addresses (see configs.ts TYPE_ERROR). */
  readonly malformed: boolean;
}

function genStep(rng: Rng, ctx: StepContext): Step {
  const id = rng.chance(0.05) ? `unknown${rng.int(0, 99)}` : rng.pick(ctx.ids);
  const ifName = rng.pick(IFNAMES);
  const base = { containerID: id, ifName, phase: ctx.phase };
  const kind = rng.weighted([
    ["ADD", 9],
    ["ADDREQ", 4],
    ["DEL", 6],
    ["CHECK", ctx.checkAllowed ? 5 : 0.5],
    ["PLANT", 1],
    ["BADENV", 1],
  ] as const);
  switch (kind) {
    case "ADD":
      return { ...base, cmd: "ADD", ...(rng.chance(0.3) ? { cniArgs: kubeletArgs(rng) } : {}) };
    case "ADDREQ":
      return { ...base, cmd: "ADD", ...placeRequests(rng, genRequests(rng, ctx.sets, ctx.malformed)) };
    case "DEL":
      return { ...base, cmd: "DEL", ...(rng.chance(0.2) ? { cniArgs: kubeletArgs(rng) } : {}) };
    case "CHECK":
      return {
        ...base,
        cmd: "CHECK",
        prev: rng.weighted([
          ["current", 6],
          ["none", 3],
          ["stale", 1],
        ] as const),
      };
    case "PLANT":
      return { ...base, cmd: "PLANT", plant: genPlant(rng, ctx.sets, id, ifName) };
    case "BADENV":
      return rng.chance(0.5)
        ? { ...base, cmd: "ADD", containerID: `bad%${id}` }
        : {
            ...base,
            cmd: rng.pick(["ADD", "DEL", "CHECK"] as const),
            ifName: rng.pick(["a/b", "averyveryverylongname", ".", "äääääääää", "a\u00a0b", "a\u0085b"]),
          };
  }
}

/** Scenario `index` of the run seeded with `seed`; independent of every other scenario. */
export function genScenario(seed: number, index: number): Scenario {
  const rng = new Rng((seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0);
  const first = genConfig(rng);
  const configs: Record<string, unknown>[] = [first.conf];
  const setsByPhase = [first.sets];
  const versions = [first.version];
  const notes = [first.label];
  if (rng.chance(0.12)) notes.push(mutateInvalid(rng, first.conf));
  else if (rng.chance(0.2)) {
    const next = reshapeConfig(rng, first);
    configs.push(next.conf);
    setsByPhase.push(next.sets);
    versions.push(next.version);
    notes.push(`then ${next.label}`);
  }
  const ids = genIDs(rng);
  const n = rng.int(6, 28);
  const switchAt = Math.floor(n / 2);
  const steps: Step[] = [];
  for (let i = 0; i < n; i++) {
    const phase = configs.length > 1 && i >= switchAt ? 1 : 0;
    const checkAllowed = ["0.4.0", "1.0.0"].includes(versions[phase] ?? "");
    const malformed = !notes.some((n) => n.includes(TYPE_ERROR));
    steps.push(genStep(rng, { ids, sets: setsByPhase[phase] ?? first.sets, phase, checkAllowed, malformed }));
  }
  return { index, configs, steps, label: notes.join(", ") };
}
