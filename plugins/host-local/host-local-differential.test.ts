// Seeded differential fuzz: our host-local (dist/bin/host-local -> dist/weft) against Debian's
// reference (/usr/lib/cni/host-local, Go, v1.1.1, spec up to 1.0.0). Random IPAM configs and
// ADD/DEL/CHECK sequences (differential/scenarios.ts) run once per implementation, each in its own
// fresh dataDir; after every step the exit status, the stdout JSON and the network directory's
// files (names and contents, not `lock`) must be equal. Where we differ ON PURPOSE the difference
// is named in CODE_DIFFERENCES / BEHAVIOUR_DIFFERENCES below with its reason; anything else fails
// with the seed, scenario and step needed to replay it:
//   WEFT_FUZZ_SEED=<seed> [WEFT_FUZZ_ONLY=<scenario>] [WEFT_FUZZ_SCENARIOS=<n>] \
//     npx vitest run plugins/host-local/host-local-differential
// host-local touches no netns (CNI_NETNS only has to be set), so no root is needed. Needs
// `npm run build` first; skipped when our binary or the reference is missing.
//
// Not compared: stderr, error `details` (ours adds a hint), file modes (0600 vs Debian's 0644, see
// host-local.root.test.ts). Not generated, each for a stated reason: two requested IPs in one range
// set (the reference picks among them in Go map order), route mtu/table/scope (Debian's v1.1.1 drops
// them; root test), reservation files not named like an IP (README: ignored on purpose), a JSON type
// error plus an unparsable address elsewhere (configs.ts TYPE_ERROR).
import { existsSync, mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isDeepStrictEqual } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WEFT_BIN, WEFT_PLUGIN_DIR } from "../../netns-fixtures/oracles/reference.ts";
import {
  type CodeDifference,
  compareErrors,
  errorOf,
  fuzzSettings,
  listedDifferences,
} from "../../netns-fixtures/fuzz/fuzz.ts";
import { isObject } from "../shared/conf.ts";
import { RESOLV_FILES } from "./testing/differential/configs.ts";
import { type Outcome, Side, networkDir } from "./testing/differential/runner.ts";
import { type Scenario, type Step, genScenario } from "./testing/differential/scenarios.ts";

const OURS = join(WEFT_PLUGIN_DIR, "host-local");
const REF = "/usr/lib/cni/host-local";
/**
 * A seed whose 40 scenarios need every entry of the two tables below (checked by the last test).
 * Changing the generator changes every stream: pick a new one then, from the "listed differences
 * not seen" line the run prints (`WEFT_FUZZ_SEED=<n> npx vitest run ...`).
 */
const { seed: SEED, count: COUNT, only: ONLY, isDefault } = fuzzSettings(193, 40);
const available = existsSync(REF) && existsSync(WEFT_BIN) && existsSync(OURS);

/**
 * Error codes that differ on purpose. The reference builds no typed CNI errors: everything its
 * plugin code returns becomes 999. We return the spec's code (README "Errors").
 */

const CODE_DIFFERENCES: readonly CodeDifference[] = [
  {
    ref: /duplicate allocation is not allowed$/,
    refCode: 999,
    ourCode: 4,
    msg: "same",
    reason:
      "a second ADD for the same container+interface is a runtime error in the CNI_CONTAINERID/CNI_IFNAME pair (4)",
  },
  {
    ref: /^ARGS: /,
    refCode: 999,
    ourCode: 4,
    msg: "same",
    reason: "malformed CNI_ARGS is an invalid environment variable (4)",
  },
  {
    ref: /: requested IP address \S+ is not available in range set /,
    refCode: 999,
    ourCode: 11,
    msg: "same",
    reason: "the address is held by another container and frees up when it is deleted: try again later (11)",
  },
  {
    ref: /: no IP addresses available in range set: /,
    refCode: 999,
    ourCode: 11,
    msg: "same",
    reason: "the pool is full until a container is deleted: try again later (11)",
  },
  {
    ref: /: requested ip \S+ is subnet's gateway$/,
    refCode: 999,
    ourCode: 7,
    msg: "same",
    reason: "the gateway is never handed out: a config problem (7)",
  },
  {
    ref: /^failed to allocate all requested IPs: /,
    refCode: 999,
    ourCode: 7,
    msg: "same",
    reason: "a requested IP no range set can take is a config problem (7)",
  },
  {
    ref: new RegExp(
      `^(${[
        "IPAM config missing 'ipam' key",
        "no IP ranges specified",
        String.raw`invalid range set \d+: `,
        String.raw`range set \d+ overlaps with \d+`,
        String.raw`CNI version \S+ does not support more than 1 address per family`,
        "invalid IP address",
        "invalid CIDR address",
      ].join("|")})`,
    ),
    refCode: 999,
    ourCode: 7,
    msg: "same",
    reason: "invalid network configuration (7)",
  },
  {
    ref: /^cannot understand ip: IP <nil> not v4 nor v6$/,
    refCode: 999,
    ourCode: 7,
    msg: /^cannot understand ip: ""$/,
    reason:
      "an empty string in args.cni.ips / runtimeConfig.ips is a config " +
      "problem (7); our message shows the empty entry instead of Go's nil IP",
  },
  {
    ref: /^open \S+: no such file or directory$/,
    refCode: 999,
    ourCode: 7,
    msg: "same",
    reason: "an unreadable ipam.resolvConf is a config problem (7)",
  },
  {
    ref: /^host-local: Failed to find address added by container /,
    refCode: 999,
    ourCode: 100,
    msg: "same",
    reason:
      "CHECK found no address: plugin-specific 100, not 3, because the runtime must still clean the attachment up",
  },
  {
    ref: /^json: cannot unmarshal /,
    refCode: 999,
    ourCode: 7,
    msg: /^(ipam\.ranges|ipam\.ranges\[\d+\]\[\d+\]\.rangeStart) must be /,
    reason: "a config field of the wrong JSON type: 7, and our message names the field instead of Go's struct path",
  },
];

/**
 * Behaviour that differs on purpose (README "Allocation", "Commands", "Files"). Each is accepted
 * only where its own check (explainsCheckPrevResult, rollbackLeftovers, normaliseResult) finds
 * exactly that difference and nothing else.
 */
const BEHAVIOUR_DIFFERENCES = {
  checkPrevResult:
    "CHECK with a prevResult: we also verify that every prevResult address inside our ranges is held " +
    "by this container+interface (code 100); the reference only looks for any address of the container",
  rollbackScope:
    "a failed ADD: we release only the addresses THIS ADD reserved; the reference releases " +
    "every address of the container+interface, including those of an earlier successful " +
    "ADD, and (from the second range set on) the container's legacy ID-only files",
  emptyDns: 'a 1.0.0 result without DNS: we omit "dns" (current upstream); Debian\'s v1.1.1 prints "dns": {}',
} as const;

type Diff = keyof typeof BEHAVIOUR_DIFFERENCES;

interface Verdict {
  readonly problem?: string;
  readonly used: readonly string[];
  /** Files to delete from our dataDir so both continue from the same state. */
  readonly resync?: readonly string[];
}

function normaliseResult(o: Outcome, version: string, used: string[]): unknown {
  const j = o.json;
  if (!isObject(j)) return j;
  const copy = { ...j };
  if (version === "1.0.0" && isDeepStrictEqual(copy["dns"], {})) {
    delete copy["dns"];
    used.push("emptyDns");
  }
  return copy;
}

/** Text as the snapshot shows a file holding it (runner.ts reads files byte for byte, as latin1). */
const asFile = (text: string) => Buffer.from(text, "utf8").toString("latin1");

/** Ours failed CHECK on a prevResult address the reference's own files show is not this attachment's. */
function explainsCheckPrevResult(step: Step, ours: Outcome, ref: Outcome): boolean {
  if (step.cmd !== "CHECK" || ref.status !== 0) return false;
  const o = errorOf(ours);
  const m =
    typeof o.msg === "string"
      ? /^host-local: address (\S+) of prevResult is not reserved for container /.exec(o.msg)
      : null;
  const ip = m?.[1];
  return o.code === 100 && ip !== undefined && ref.files?.[ip] !== asFile(`${step.containerID}\r\n${step.ifName}`);
}

/**
 * Files only we still have after a failed ADD, all the ADD's attachment's or its container's legacy ones
 * (rollbackScope).
 */
function rollbackLeftovers(step: Step, ours: Outcome, ref: Outcome): string[] | undefined {
  if (step.cmd !== "ADD" || ours.status === 0 || ref.status === 0 || ours.files === null || ref.files === null)
    return undefined;
  const extra = Object.keys(ours.files).filter((n) => !(n in (ref.files ?? {})));
  const owners = [asFile(`${step.containerID}\r\n${step.ifName}`), step.containerID];
  if (extra.length === 0 || extra.some((n) => !owners.includes((ours.files?.[n] ?? "").trim()))) return undefined;
  const rest = Object.fromEntries(Object.entries(ours.files).filter(([n]) => !extra.includes(n)));
  return isDeepStrictEqual(rest, ref.files) ? extra : undefined;
}

function compareStep(step: Step, version: string, ours: Outcome, ref: Outcome): Verdict {
  const used: string[] = [];
  let problem: string | undefined;
  if (ours.status === 0 && ref.status === 0) {
    const [o, r] = [normaliseResult(ours, version, used), normaliseResult(ref, version, used)];
    if (!isDeepStrictEqual(o, r))
      problem = `results differ:\n  ours      ${JSON.stringify(o)}\n  reference ${JSON.stringify(r)}`;
  } else if (ours.status !== 0 && ref.status !== 0) {
    problem =
      ours.status === ref.status
        ? compareErrors(CODE_DIFFERENCES, errorOf(ours), errorOf(ref), used)
        : `exit status ${ours.status} vs ${ref.status}`;
  } else if (explainsCheckPrevResult(step, ours, ref)) {
    used.push("checkPrevResult" satisfies Diff);
  } else {
    problem = `one failed: ours exit ${ours.status} ${ours.stdout}\n  reference exit ${ref.status} ${ref.stdout}`;
  }
  if (problem !== undefined || isDeepStrictEqual(ours.files, ref.files))
    return { used, ...(problem === undefined ? {} : { problem }) };
  const leftovers = rollbackLeftovers(step, ours, ref);
  if (leftovers !== undefined) return { used: [...used, "rollbackScope" satisfies Diff], resync: leftovers };
  return {
    used,
    problem: `files differ:\n  ours      ${JSON.stringify(ours.files)}\n  reference ${JSON.stringify(ref.files)}`,
  };
}

const stats = { scenarios: 0, steps: 0, outcomes: new Map<string, number>(), used: new Map<string, number>() };
const bump = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);

/** The words that class a reference error in the coverage summary. */
const ERROR_KINDS = new RegExp(
  [
    "not available",
    "no IP addresses",
    "duplicate",
    "not in range set",
    "gateway",
    "requested IPs",
    "Failed to find",
    "ARGS",
    "invalid range set",
    "overlaps",
    "interface name",
    "containerID",
    "does not allow",
    "json",
    "open ",
  ].join("|"),
);

/** "ADD ok", "CHECK error 100", ... for the coverage summary. */
function outcomeClass(step: Step, ref: Outcome): string {
  if (ref.status === 0) return `${step.cmd} ok`;
  const msg = String(errorOf(ref).msg);
  const kind = ERROR_KINDS.exec(msg)?.[0] ?? msg.slice(0, 24);
  return `${step.cmd} error: ${kind}`;
}

let root = "";

async function runScenario(sc: Scenario): Promise<void> {
  const dir = join(root, `s${sc.index}`);
  const ours = new Side(OURS, join(dir, "ours"), root);
  const ref = new Side(REF, join(dir, "ref"), root);
  for (const [i, step] of sc.steps.entries()) {
    const base = sc.configs[step.phase] ?? {};
    const [o, r] = await Promise.all([ours.run(step, base), ref.run(step, base)]);
    const verdict = compareStep(step, String(base["cniVersion"]), o, r);
    stats.steps++;
    bump(stats.outcomes, outcomeClass(step, r));
    verdict.used.forEach((u) => bump(stats.used, u));
    if (verdict.problem !== undefined) {
      const replay = `WEFT_FUZZ_SEED=${SEED} WEFT_FUZZ_ONLY=${sc.index}`;
      const history = sc.steps
        .slice(0, i + 1)
        .map((s, j) => `  ${j}: ${JSON.stringify(s)}`)
        .join("\n");
      expect.fail(
        `${replay}: step ${i} ${step.cmd} differs: ${verdict.problem}\n` +
          `config (reference side): ${JSON.stringify(ref.config(step, base))}\nsteps:\n${history}`,
      );
    }
    for (const name of verdict.resync ?? []) unlinkSync(join(networkDir(ours.dataDir), name));
  }
  stats.scenarios++;
}

const scenarios = Array.from({ length: COUNT }, (_, i) => genScenario(SEED, i)).filter(
  (s) => ONLY === undefined || String(s.index) === ONLY,
);

describe.skipIf(!available)(`host-local: ours vs the reference, seeded differential fuzz (seed ${SEED})`, () => {
  beforeAll(() => {
    console.log(
      `host-local differential fuzz: WEFT_FUZZ_SEED=${SEED}, ${scenarios.length} ` +
        `scenarios, ${scenarios.reduce((n, s) => n + s.steps.length, 0)} steps`,
    );
    root = mkdtempSync(join(tmpdir(), "weft-hl-fuzz-"));
    mkdirSync(root, { recursive: true });
    for (const [name, text] of Object.entries(RESOLV_FILES)) writeFileSync(join(root, name), text);
  });
  afterAll(() => {
    const lines = [...stats.outcomes].sort().map(([k, n]) => `  ${n}\t${k}`);
    const used = [...stats.used]
      .sort()
      .map(([k, n]) => `  ${n}\t${k}${k in BEHAVIOUR_DIFFERENCES ? `: ${BEHAVIOUR_DIFFERENCES[k as Diff]}` : ""}`);
    const unseen = listedDifferences(CODE_DIFFERENCES, BEHAVIOUR_DIFFERENCES).filter((k) => !stats.used.has(k));
    console.log(
      `ran ${stats.scenarios} scenarios, ${stats.steps} steps (reference outcomes):\n${lines.join("\n")}\nlisted ` +
        `differences seen:\n${used.join("\n")}\nlisted differences not seen: ${unseen.length}\n${unseen.join("\n")}`,
    );
    rmSync(root, { recursive: true, force: true });
  });

  it.each(scenarios.map((s) => [s.index, s.label, s] as const))(
    "scenario %i (%s) gives the same results, errors and files",
    async (_i, _label, sc) => {
      await runScenario(sc);
    },
    30_000,
  );

  it.skipIf(ONLY !== undefined)(
    "exercised allocation, exhaustion, requested IPs, CHECK and DEL, and with the default seed every listed difference",
    () => {
      const seen = (prefix: string) =>
        [...stats.outcomes].filter(([k]) => k.startsWith(prefix)).reduce((n, [, c]) => n + c, 0);
      for (const k of [
        "ADD ok",
        "DEL ok",
        "CHECK ok",
        "ADD error: no IP addresses",
        "ADD error: not available",
        "ADD error: requested IPs",
        "ADD error: gateway",
        "ADD error: duplicate",
        "CHECK error: Failed to find",
      ]) {
        expect(seen(k), k).toBeGreaterThan(0);
      }
      // A table entry no step needs is stale (e.g. the difference was fixed): the default run must use each one.
      if (isDefault) {
        const listed = listedDifferences(CODE_DIFFERENCES, BEHAVIOUR_DIFFERENCES);
        const why =
          "listed differences the default run never needed: a stale entry " +
          "(delete it), or the generator changed (pick a new DEFAULT_SEED)";
        expect(
          listed.filter((k) => !stats.used.has(k)),
          why,
        ).toEqual([]);
      }
    },
  );
});
