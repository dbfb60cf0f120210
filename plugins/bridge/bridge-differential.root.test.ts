// Seeded differential fuzz: our bridge (dist/bin/bridge, with our host-local on CNI_PATH) against
// Debian's reference (/usr/lib/cni/bridge v1.1.1, with its host-local), in real network namespaces.
// Random bridge + host-local configs and ADD/CHECK/DEL sequences (differential/scenarios.ts) run
// once per implementation, each in its own fresh node netns with its own pod netns and IPAM
// dataDir; after every step the exit status, the stdout JSON (veth names, MACs, link-local
// addresses and the side's netns names normalised) and the state of every netns (links, addresses,
// routes, nat rules, bridge nat table, sysctls) and the IPAM files must be equal. Where we differ ON
// PURPOSE it is named in CODE_DIFFERENCES / BEHAVIOUR_DIFFERENCES with its reason; anything else
// fails with the seed, scenario and step to replay it:
//   WEFT_FUZZ_SEED=<seed> [WEFT_FUZZ_ONLY=<scenario>] [WEFT_FUZZ_SCENARIOS=<n>] \
//     npx vitest run plugins/bridge/bridge-differential
// Needs root and `npm run build`; skipped when our binary or the reference is missing.
//
// Not compared: stderr, error `details`, txqueuelen (conformance/impls.ts DIFFERENCES.txqueuelen).
// Not generated: VLANs (this kernel has no bridge VLAN filtering), ipMasqBackend nftables (the
// reference v1.1.1 has no nftables backend), spec 0.1.0/0.2.0 and 1.1.0 (conformance covers them),
// enabledad (a DAD wait per ADD), an isGateway ADD on a bridge whose last port left before its MAC
// was ever pinned (its MAC is then 00:00:00:00:00:00: the reference pins the MAC it read before the
// port joined and fails with "could not set bridge's mac: invalid argument", we pin the live one;
// the harness gives such a bridge a fixed MAC after every step, and pins the MAC of non-gateway
// bridges after each ADD so CHECK is not decided by which random port MAC is lowest).
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isDeepStrictEqual } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REFERENCE_PLUGIN_DIR, WEFT_BIN, WEFT_PLUGIN_DIR } from "../../netns-fixtures/oracles/reference.ts";
import { run } from "../../netns-fixtures/topology/sh.ts";
import { Topology, sweepStale } from "../../netns-fixtures/topology/topology.ts";
import {
  type CodeDifference,
  compareErrors,
  errorOf,
  fuzzSettings,
  listedDifferences,
} from "../../netns-fixtures/fuzz/fuzz.ts";
import { isObject } from "../shared/conf.ts";
import { type Outcome, Side, normaliseJson } from "./testing/differential/runner.ts";
import { NETWORK, type Scenario, type Step, directedScenarios, genScenario } from "./testing/differential/scenarios.ts";

const { seed: SEED, count: COUNT, only: ONLY, isDefault } = fuzzSettings(1, 16);
const available = process.getuid?.() === 0 && existsSync(WEFT_BIN) && existsSync(join(REFERENCE_PLUGIN_DIR, "bridge"));

/** Error codes (and messages) that differ on purpose: the reference returns 999 for its own errors. */
const CODE_DIFFERENCES: readonly CodeDifference[] = [
  {
    ref: /^container veth name provided \(\S+\) already exists$/,
    refCode: 999,
    ourCode: 4,
    msg: /^container veth name \("\S+"\) peer provided \("veth\*"\) already exists$/,
    reason:
      "CNI_IFNAME already exists in the pod (ADD twice): a runtime error in CNI_IFNAME " +
      "(4); the message is current upstream's (v1.9), which also names the host peer",
  },
  {
    ref: /^(failed to make veth pair: invalid argument|failed to open netns "\S+": .*)$/,
    refCode: 999,
    ourCode: 7,
    msg: /^invalid mtu \d+$/,
    reason:
      "an mtu outside 68-65535 is a config error (7) found before touching the kernel; " +
      "the reference only fails when the kernel refuses the veth (after opening the netns)",
  },
  {
    ref: /^cannot set hairpin mode and promiscuous mode at the same time\.$/,
    refCode: 999,
    ourCode: 7,
    msg: /^cannot set hairpin mode and promiscuous mode at the same time$/,
    reason: "incompatible flags are a config error (7); current upstream's text has no final period",
  },
  {
    ref: /^host-local: Failed to find address added by container /,
    refCode: 999,
    ourCode: 100,
    msg: "same",
    reason: "our host-local's CHECK: no address is a live-state mismatch (100), see the host-local differential fuzz",
  },
  {
    ref: /^failed to open netns "(\S+)": failed to Statfs "\S+": no such file or directory$/,
    refCode: 999,
    ourCode: 3,
    msg: /^failed to open netns "(\S+)": network namespace "\S+" does not exist$/,
    reason: "CNI_NETNS does not exist: unknown container (3); our message says so instead of Go's statfs error",
  },
  {
    ref: /^failed to set bridge addr: "\S+" already has an IP address different from \S+$/,
    refCode: 999,
    ourCode: 7,
    msg: "same",
    reason: "another gateway address on the bridge is a config conflict the operator must fix (7)",
  },
  {
    ref: /^ARGS: (unknown args|invalid pair) /,
    refCode: 999,
    ourCode: 4,
    msg: "same",
    reason: "malformed or unknown CNI_ARGS is an invalid environment variable (4), as in our host-local",
  },
  {
    ref: /, duplicate allocation is not allowed$/,
    refCode: 999,
    ourCode: 4,
    msg: "same",
    reason:
      "our host-local: a second ADD for the same container+interface " +
      "is a runtime error (4), see the host-local differential fuzz",
  },
  {
    ref: /^Required prevResult missing$/,
    refCode: 999,
    ourCode: 7,
    msg: "same",
    reason: "CHECK without prevResult is a config error (7)",
  },
  {
    ref: /^Expected Route \{Dst:\{IP:\S+ Mask:[0-9a-f]+\} GW:\S+\} not found in routing table$/,
    refCode: 999,
    ourCode: 100,
    msg: /^Expected Route \{Dst:[0-9a-f.:]+\/\d+ GW:\S+\} not found in routing table$/,
    reason:
      "CHECK found a route of prevResult missing: 100; Go prints the destination as a raw struct, we print the CIDR",
  },
  {
    ref: /^Interface \S+ Mac \S+ doesn't match container Mac: \S+$/,
    refCode: 999,
    ourCode: 100,
    msg: /^host-local: address \S+ of prevResult is not reserved for container \S+/,
    reason:
      "CHECK with an outdated prevResult: our host-local's CHECK (which runs first, as " +
      "in the reference) also verifies the prevResult's addresses (host-local differential " +
      "fuzz: checkPrevResult), so it fails there, before the bridge compares MACs",
  },
  {
    ref: /^Bridge interface \S+ configured Promisc Mode \S+ doesn't match current state: \S+ $/,
    refCode: 999,
    ourCode: 100,
    msg: /^Bridge interface \S+ configured Promisc Mode \S+ doesn't match current state: \S+$/,
    reason: "CHECK mismatch (100); the reference's message ends in a stray space we leave out",
  },
  {
    ref: /^failed to add route '\{\S+ [0-9a-f]+\} via \S+ dev \S+': file exists$/,
    refCode: 999,
    ourCode: 5,
    msg: /^failed to add route '[0-9a-f.:]+\/\d+ via \S+ dev \S+': RTM_NEWROUTE .*EEXIST \(File exists\)$/,
    reason:
      "the kernel refused a route (an IPAM route without gw duplicating isDefaultGateway's): " +
      "5; Go prints the destination as a raw struct, we print the CIDR and the errno",
  },
  {
    ref: /^failed to find plugin "\S+" in path \[\S+\]$/,
    refCode: 999,
    ourCode: 4,
    msg: "same",
    reason:
      "no IPAM plugin of that type on CNI_PATH: our shared IPAM " +
      "delegation (plugins/shared/ipam.ts) reports the environment (4)",
  },
  {
    ref: /^failed to load netconf: json: cannot unmarshal \S+ into Go struct field NetConf\.\S+ of type \S+$/,
    refCode: 999,
    ourCode: 7,
    msg: /^failed to load netconf: '\S+' must be /,
    reason: "a config key of the wrong JSON type: 7, and our message names the key instead of Go's struct path",
  },
  {
    ref: /^failed to create bridge "\S+": could not add "\S+": numerical result out of range$/,
    refCode: 999,
    ourCode: 7,
    msg: "same",
    reason: "a bridge name longer than 15 bytes is a config error (7)",
  },
];

const BEHAVIOUR_DIFFERENCES = {
  failedAddLeak:
    "a failed ADD after the veth pair exists: the reference leaves the pair " +
    "behind, we unwind it (conformance/impls.ts DIFFERENCES.failedAddLeak)",
  delGoneMasq:
    "DEL after the pod netns is gone with ipMasq: we find the container's nat chain by its name and " +
    "remove it; the reference no longer knows the addresses and leaves the chain and its POSTROUTING jump",
  delGoneSpoofchk:
    "DEL after the pod netns is gone with macspoofchk: we remove the container's spoof-check rules " +
    "and chains; the reference skips them once the netns is gone and leaves them behind (README DEL)",
  checkRouteWithoutGw:
    "CHECK of an ADD result whose IPAM route has no gw: the reference looks for the route without a gateway, " +
    "but its own ADD installed it via the gateway, so its CHECK always fails; ours finds the route it installed",
  sharedChainDel:
    "DEL of one of two interfaces of a container with ipMasq: the reference flushes the " +
    "container's shared nat chain and fails deleting it while the other interface still jumps " +
    "to it (every retry fails); we remove only this interface's jump and keep the chain (README " +
    "Masquerade). The chain is left out of the comparison until both sides have removed it",
  emptyDns: 'a 1.0.0 result without DNS: we omit "dns" (current upstream); Debian\'s v1.1.1 prints "dns": {}',
} as const;
type Diff = keyof typeof BEHAVIOUR_DIFFERENCES;

/** The reference's iptables chain of a container: CNI- + 24 hex of sha512(network + container ID). */
const chainOf = (cid: string): string =>
  `CNI-${createHash("sha512")
    .update(NETWORK + cid)
    .digest("hex")
    .slice(0, 24)}`;

interface StepContext {
  readonly sides: { readonly o: Side; readonly r: Side };
  /** Listed differences this step needed. */
  readonly used: string[];
  /** Chains left out of the nat comparison (sharedChainDel). */
  readonly masked: Set<string>;
}

function compareOutput(step: Step, ours: Outcome, ref: Outcome, ctx: StepContext): string | undefined {
  const { sides, used, masked } = ctx;
  if (ours.code === 0 && ref.code === 0) {
    const [o, r] = [normaliseJson(ours.json ?? null, sides.o.names), normaliseJson(ref.json ?? null, sides.r.names)];
    if (isObject(r) && isObject(o) && isDeepStrictEqual(r["dns"], {}) && !("dns" in o) && r["cniVersion"] === "1.0.0") {
      delete r["dns"];
      used.push("emptyDns" satisfies Diff);
    }
    return isDeepStrictEqual(o, r)
      ? undefined
      : `results differ:\n  ours      ${JSON.stringify(o)}\n  reference ${JSON.stringify(r)}`;
  }
  if (ours.code !== 0 && ref.code !== 0) {
    const [o, r] = [normaliseJson(errorOf(ours), sides.o.names), normaliseJson(errorOf(ref), sides.r.names)] as {
      code: unknown;
      msg: unknown;
    }[];
    return compareErrors(CODE_DIFFERENCES, o ?? { code: 0, msg: "" }, r ?? { code: 0, msg: "" }, used);
  }
  if (
    ours.code === 0 &&
    step.cmd === "CHECK" &&
    /^Expected Route \{Dst:\{IP:\S+ Mask:[0-9a-f]+\} GW:<nil>\} not found in routing table$/.test(
      String(errorOf(ref).msg),
    )
  ) {
    used.push("checkRouteWithoutGw" satisfies Diff);
    return undefined;
  }
  if (
    ours.code === 0 &&
    step.cmd === "DEL" &&
    new RegExp(
      String.raw`^running \[\/usr\/sbin\/ip6?tables -t nat -X (CNI-[0-9a-f]{24}) --wait\]: ` +
        String.raw`exit status \d+: [\s\S]*(busy|in use|Too many links)`,
    ).test(String(errorOf(ref).msg))
  ) {
    used.push("sharedChainDel" satisfies Diff);
    masked.add(chainOf(`cid${step.pod}`));
    return undefined;
  }
  return (
    `one failed: ours exit ${ours.code} ${ours.stdout}${ours.stderr}\n` +
    `  reference exit ${ref.code} ${ref.stdout}${ref.stderr}`
  );
}

/** A state difference the table explains: bring the reference side in line and re-snapshot it. */
async function explainState(
  step: Step,
  ours: Outcome,
  ref: Outcome,
  sides: { o: Side; r: Side },
): Promise<{ diffs: Diff[]; ref: Outcome } | undefined> {
  const r = sides.r;
  if (step.cmd === "ADD" && ours.code !== 0 && ref.code !== 0) {
    await r.fix(r.pod(step.pod), "ip", ["link", "del", step.ifName]);
    // the leaked port may have been the bridge's last: its MAC is then fixed as on our side
    await r.pinBridgeMac(step, false);
    return { diffs: ["failedAddLeak"], ref: await r.snapshot(ref) };
  }
  if (step.cmd !== "DEL" || ref.code !== 0 || !r.isGone(step.pod)) return undefined;
  const diffs: Diff[] = [];
  const [refNode, ourNode] = [ref.state["node"], ours.state["node"]].map((n) => (isObject(n) ? n : {})) as [
    Record<string, unknown>,
    Record<string, unknown>,
  ];
  const chain = chainOf(`cid${step.pod}`);
  const nat = (n: Record<string, unknown>): string => `${String(n["nat4"])}${String(n["nat6"])}`;
  if (nat(refNode).includes(chain) && !nat(ourNode).includes(chain)) {
    for (const tool of ["iptables", "ip6tables"]) {
      const rules = (await run("ip", ["netns", "exec", r.node, tool, "-t", "nat", "-S", "POSTROUTING"])).stdout
        .split("\n")
        .filter((l) => l.includes(`-j ${chain}`));
      for (const rule of rules) await r.fix(r.node, "sh", ["-c", `${tool} -t nat ${rule.replace(/^-A/, "-D")}`]);
      await r.fix(r.node, tool, ["-t", "nat", "-F", chain]);
      await r.fix(r.node, tool, ["-t", "nat", "-X", chain]);
    }
    diffs.push("delGoneMasq");
  }
  const tag = `macspoofchk-cid${step.pod}-${step.ifName}`;
  if (String(refNode["bridgeNat"]).includes(`"${tag}"`) && !String(ourNode["bridgeNat"]).includes(`"${tag}"`)) {
    const handles = (
      await run("ip", ["netns", "exec", r.node, "nft", "-a", "list", "chain", "bridge", "nat", "PREROUTING"])
    ).stdout
      .split("\n")
      .filter((l) => l.includes(`"${tag}"`))
      .map((l) => /# handle (\d+)/.exec(l)?.[1]);
    for (const h of handles)
      if (h !== undefined) await r.fix(r.node, "nft", ["delete", "rule", "bridge", "nat", "PREROUTING", "handle", h]);
    const base = `cni-br-iface-cid${step.pod}-${step.ifName}`;
    for (const c of [base, `${base}-mac`]) await r.fix(r.node, "nft", ["flush", "chain", "bridge", "nat", c]);
    for (const c of [base, `${base}-mac`]) await r.fix(r.node, "nft", ["delete", "chain", "bridge", "nat", c]);
    diffs.push("delGoneSpoofchk");
  }
  return diffs.length > 0 ? { diffs, ref: await r.snapshot(ref) } : undefined;
}

/** The node's nat rules without the lines of `masked` chains (BEHAVIOUR_DIFFERENCES.sharedChainDel). */
function mask(state: Record<string, unknown>, masked: ReadonlySet<string>): Record<string, unknown> {
  const node = state["node"];
  if (masked.size === 0 || !isObject(node)) return state;
  const keep = (text: unknown): string =>
    String(text)
      .split("\n")
      .filter((l) => ![...masked].some((c) => l.includes(c)))
      .join("\n");
  return { ...state, node: { ...node, nat4: keep(node["nat4"]), nat6: keep(node["nat6"]) } };
}

function natMentions(state: Record<string, unknown>, chain: string): boolean {
  const node = state["node"];
  return isObject(node) && `${String(node["nat4"])}${String(node["nat6"])}`.includes(chain);
}

/** Only the parts of two snapshots that differ: "<netns>.<what>". */
function stateDiff(ours: Record<string, unknown>, ref: Record<string, unknown>): string {
  const lines: string[] = [];
  for (const ns of new Set([...Object.keys(ours), ...Object.keys(ref)])) {
    const [o, r] = [ours[ns], ref[ns]];
    if (isDeepStrictEqual(o, r)) continue;
    if (!isObject(o) || !isObject(r) || ns === "ipam") {
      lines.push(`  ${ns}:\n    ours      ${JSON.stringify(o)}\n    reference ${JSON.stringify(r)}`);
      continue;
    }
    for (const k of new Set([...Object.keys(o), ...Object.keys(r)])) {
      if (!isDeepStrictEqual(o[k], r[k]))
        lines.push(`  ${ns}.${k}:\n    ours      ${JSON.stringify(o[k])}\n    reference ${JSON.stringify(r[k])}`);
    }
  }
  return lines.join("\n");
}

const stats = { scenarios: 0, steps: 0, outcomes: new Map<string, number>(), used: new Map<string, number>() };
const bump = (m: Map<string, number>, k: string): void => void m.set(k, (m.get(k) ?? 0) + 1);

function outcomeClass(step: Step, ref: Outcome): string {
  if (step.cmd === "GONE") return "pod netns deleted";
  if (step.cmd === "TAMPER") return "pod default route deleted";
  if (ref.code === 0) return `${step.cmd} ok`;
  const msg = String(errorOf(ref).msg).replace(/veth[0-9a-f]{8}|\/run\/netns\/\S+|\d+\.\d+\.\d+\.\d+\S*/g, "*");
  return `${step.cmd} error: ${msg.slice(0, 60)}`;
}

let topo: Topology;
let root = "";

async function runScenario(sc: Scenario): Promise<void> {
  const mk = (label: "ours" | "ref", pluginDir: string): Side =>
    new Side(label, sc, { runPrefix: topo.prefix, pluginDir, dataDir: join(root, `s${sc.index}-${label}`) });
  const sides = { o: mk("ours", WEFT_PLUGIN_DIR), r: mk("ref", REFERENCE_PLUGIN_DIR) };
  const masked = new Set<string>();
  try {
    await Promise.all([sides.o.setup(), sides.r.setup()]);
    for (const [i, step] of sc.steps.entries()) {
      const [ours, first] = await Promise.all([sides.o.run(step), sides.r.run(step)]);
      let ref = first;
      const used: string[] = [];
      let problem = compareOutput(step, ours, ref, { sides, used, masked });
      if (problem === undefined && !isDeepStrictEqual(mask(ours.state, masked), mask(ref.state, masked))) {
        const explained = await explainState(step, ours, ref, sides);
        if (explained !== undefined && isDeepStrictEqual(mask(ours.state, masked), mask(explained.ref.state, masked))) {
          used.push(...explained.diffs);
          ref = explained.ref;
        } else {
          problem = `state differs:\n${stateDiff(mask(ours.state, masked), mask(ref.state, masked))}`;
        }
      }
      for (const chain of masked)
        if (!natMentions(ours.state, chain) && !natMentions(ref.state, chain)) masked.delete(chain);
      stats.steps++;
      bump(stats.outcomes, outcomeClass(step, ref));
      used.forEach((u) => bump(stats.used, u));
      if (problem !== undefined) {
        const history = sc.steps
          .slice(0, i + 1)
          .map((s, j) => `  ${j}: ${JSON.stringify(s)}`)
          .join("\n");
        expect.fail(
          `WEFT_FUZZ_SEED=${SEED} WEFT_FUZZ_ONLY=${sc.index}: step ${i} ${step.cmd} differs: ${problem}\n` +
            `configs: ${JSON.stringify(sc.configs)}\nsteps:\n${history}`,
        );
      }
    }
    stats.scenarios++;
  } finally {
    await Promise.all([sides.o.teardown(), sides.r.teardown()]);
  }
}

const scenarios = [...Array.from({ length: COUNT }, (_, i) => genScenario(SEED, i)), ...directedScenarios()].filter(
  (s) => ONLY === undefined || String(s.index) === ONLY,
);

describe.skipIf(!available)(`bridge: ours vs the reference, seeded differential fuzz in netns (seed ${SEED})`, () => {
  beforeAll(async () => {
    await sweepStale();
    topo = new Topology();
    root = mkdtempSync(join(tmpdir(), `${topo.prefix}-brfuzz-`));
    console.log(
      `bridge differential fuzz: WEFT_FUZZ_SEED=${SEED}, ${scenarios.length} scenarios, ` +
        `${scenarios.reduce((n, s) => n + s.steps.length, 0)} steps, prefix ${topo.prefix}`,
    );
  });
  afterAll(async () => {
    const lines = [...stats.outcomes].sort().map(([k, n]) => `  ${n}\t${k}`);
    const used = [...stats.used].sort().map(([k, n]) => `  ${n}\t${k}`);
    const unseen = listedDifferences(CODE_DIFFERENCES, BEHAVIOUR_DIFFERENCES).filter((k) => !stats.used.has(k));
    console.log(
      `ran ${stats.scenarios} scenarios, ${stats.steps} steps (reference outcomes):\n${lines.join("\n")}\nlisted ` +
        `differences seen:\n${used.join("\n")}\nlisted differences not seen: ${unseen.length}\n${unseen.join("\n")}`,
    );
    await topo.cleanup();
    rmSync(root, { recursive: true, force: true });
  });

  it.each(scenarios.map((s) => [s.index, s.label, s] as const))(
    "scenario %i (%s) gives the same results, errors and kernel state",
    async (_i, _label, sc) => {
      await runScenario(sc);
    },
    60_000,
  );

  it.skipIf(ONLY !== undefined)(
    "exercised ADD, CHECK, DEL and failures, and with the default seed every listed difference",
    () => {
      const seen = (prefix: string): number =>
        [...stats.outcomes].filter(([k]) => k.startsWith(prefix)).reduce((n, [, c]) => n + c, 0);
      for (const k of ["ADD ok", "DEL ok", "CHECK ok", "ADD error", "pod netns deleted"])
        expect(seen(k), k).toBeGreaterThan(0);
      if (isDefault) {
        const listed = listedDifferences(CODE_DIFFERENCES, BEHAVIOUR_DIFFERENCES);
        expect(
          listed.filter((k) => !stats.used.has(k)),
          "listed differences the default run never needed: a stale entry, or pick a new DEFAULT_SEED",
        ).toEqual([]);
      }
    },
  );

  it("leaves no netns and no nat rules of its own behind", async () => {
    await topo.cleanup();
    const ns = (await run("ip", ["netns", "list"])).stdout;
    expect(ns.split("\n").filter((l) => l.startsWith(topo.prefix))).toEqual([]);
    for (const tool of ["iptables-save", "ip6tables-save"]) {
      const nat = (await run(tool, ["-t", "nat"], { allowFail: true })).stdout;
      expect(nat).not.toContain(NETWORK);
    }
  });
});
