/**
 * Runs fuzz steps through a host-local binary (ours or the reference) in its own dataDir and
 * captures what the comparison needs: exit status, stdout parsed as JSON, and the files of the
 * network directory afterwards. Each implementation keeps its own "runtime cache" of ADD results,
 * which CHECK sends back as prevResult, as libcni would.
 */
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { callPlugin } from "../../../../conformance/exec.ts";
import { isObject } from "../../../shared/conf.ts";
import type { Step } from "./scenarios.ts";

export const NETWORK = "fuzznet";

export interface Outcome {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout parsed; undefined when empty or not JSON. */
  readonly json: unknown;
  /** `<dataDir>/fuzznet` after the step, name -> content, without `lock`; null when absent. */
  readonly files: Readonly<Record<string, string>> | null;
}

export function networkDir(dataDir: string): string {
  return join(dataDir, NETWORK);
}

export function snapshot(dataDir: string): Record<string, string> | null {
  const dir = networkDir(dataDir);
  if (!existsSync(dir)) return null;
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir).sort()) if (name !== "lock") out[name] = readFileSync(join(dir, name), "latin1");
  return out;
}

function parse(text: string): unknown {
  if (text.trim() === "") return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** Replace "@root/" in every string of `v` (resolvConf paths of the generated configs). */
function withRoot(v: unknown, root: string): unknown {
  if (typeof v === "string") return v.startsWith("@root/") ? join(root, v.slice(6)) : v;
  if (Array.isArray(v)) return v.map((x: unknown) => withRoot(x, root));
  if (typeof v === "object" && v !== null)
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, withRoot(x, root)]));
  return v;
}

interface IPEntry {
  readonly address: string;
  readonly gateway?: string;
}

/**
 * A cached ADD result in the config's version, as libcni converts it before sending it as
 * prevResult (the scenario's config version may have changed since the ADD). Only what host-local
 * results hold: ips (0.2.0's ip4/ip6), routes, dns.
 */
export function asVersion(result: unknown, version: string): unknown {
  if (!isObject(result)) return result;
  const list = Array.isArray(result["ips"])
    ? (result["ips"] as unknown[])
    : [result["ip4"], result["ip6"]].filter(isObject).map((e) => ({ address: e["ip"], gateway: e["gateway"] }));
  const ips = list.filter(isObject).map(
    (e): IPEntry => ({
      address: String(e["address"]),
      ...(typeof e["gateway"] === "string" ? { gateway: e["gateway"] } : {}),
    }),
  );
  const versioned =
    version === "1.0.0" ? ips : ips.map((e) => ({ version: e.address.includes(":") ? "6" : "4", ...e }));
  const out: Record<string, unknown> = { cniVersion: version, ips: versioned };
  const routes = Array.isArray(result["routes"])
    ? result["routes"]
    : [result["ip4"], result["ip6"]].filter(isObject).flatMap((e) => (Array.isArray(e["routes"]) ? e["routes"] : []));
  if (routes.length > 0) out["routes"] = routes;
  if (isObject(result["dns"])) out["dns"] = result["dns"];
  return out;
}

const attachmentKey = (s: Step) => `${s.containerID}\u0000${s.ifName}`;

/** One implementation's side of a scenario: its binary, its dataDir and its runtime cache. */
export class Side {
  readonly #current = new Map<string, unknown>();
  readonly #stale = new Map<string, unknown>();

  constructor(
    readonly bin: string,
    readonly dataDir: string,
    readonly root: string,
  ) {}

  /** The stdin config of a step. */
  config(step: Step, base: Record<string, unknown>): Record<string, unknown> {
    const rooted = withRoot(base, this.root);
    const conf: Record<string, unknown> = isObject(rooted) ? rooted : {};
    const ipam = conf["ipam"];
    if (isObject(ipam)) ipam["dataDir"] = this.dataDir;
    if (step.argsIPs !== undefined) conf["args"] = { cni: { ips: step.argsIPs } };
    if (step.runtimeIPs !== undefined) {
      const rt = conf["runtimeConfig"];
      conf["runtimeConfig"] = { ...(isObject(rt) ? rt : {}), ips: step.runtimeIPs };
    }
    const prev = this.#prevResult(step);
    if (prev !== undefined) conf["prevResult"] = asVersion(prev, String(conf["cniVersion"]));
    return conf;
  }

  #prevResult(step: Step): unknown {
    if (step.cmd !== "CHECK" || step.prev === "none" || step.prev === undefined) return undefined;
    const key = attachmentKey(step);
    if (step.prev === "current") return this.#current.get(key);
    return this.#stale.get(key) ?? [...this.#current.entries()].find(([k]) => k !== key)?.[1];
  }

  async run(step: Step, base: Record<string, unknown>): Promise<Outcome> {
    if (step.cmd === "PLANT") return this.#plant(step);
    const r = await callPlugin({
      plugin: this.bin,
      command: step.cmd,
      containerID: step.containerID,
      netns: "/var/run/netns/weft-fuzz-none",
      ifName: step.ifName,
      path: "/opt/cni/bin",
      ...(step.cniArgs !== undefined ? { args: step.cniArgs } : {}),
      stdin: JSON.stringify(this.config(step, base)),
    });
    const json = parse(r.stdout);
    this.#remember(step, r.code, json);
    return { status: r.code, stdout: r.stdout, stderr: r.stderr, json, files: snapshot(this.dataDir) };
  }

  #remember(step: Step, status: number | null, json: unknown): void {
    if (status !== 0) return;
    const key = attachmentKey(step);
    if (step.cmd === "ADD") this.#current.set(key, json);
    if (step.cmd === "DEL" && this.#current.has(key)) {
      this.#stale.set(key, this.#current.get(key));
      this.#current.delete(key);
    }
  }

  /** Write a planted file (step.plant) into the network directory, if that exists. */
  #plant(step: Step): Outcome {
    const dir = networkDir(this.dataDir);
    const name = step.plant?.name ?? "";
    const path = join(dir, name);
    if (existsSync(dir) && (name.startsWith("last_reserved_ip.") || !existsSync(path)))
      writeFileSync(path, step.plant?.text ?? "", { mode: 0o600 });
    return { status: 0, stdout: "", stderr: "", json: undefined, files: snapshot(this.dataDir) };
  }
}
